import { createHash } from 'node:crypto';
import type { EsxiObserved, ScvmObserved } from '../observe/observed-types';

/** JSON with object keys sorted at every level, so equal data always gives equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    // No prototype: a key named __proto__ (JSON.parse makes it an own key) stays a key, not a prototype.
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * The part of a host's observation a saved plan stands on. The agent rewrites its
 * heartbeat every interval, moves the NFS route on failover, and cron may restart it
 * under a new pid: none of that is a change apply makes, and counting it would make
 * every saved plan stale within seconds on a live cluster. What the agent runs (its
 * command lines) and at which version still count; so does everything on disk.
 */
export function stableObservation(observation: unknown): unknown {
  const o = observation as Partial<EsxiObserved> | Partial<ScvmObserved> | null | undefined;
  if (o?.kind === 'scvm' && o.reachable === true) {
    // The ZBS session moves by itself (a new id when access restarts; unreadable while meta is
    // busy). A saved plan's register action names its id and apply refuses a changed one, and a
    // registration that became needed shows as a changed action list: both stay stale-safe.
    const { zbsSession: _session, ...scvm } = observation as ScvmObserved;
    return scvm;
  }
  if (o === null || o === undefined || o.kind !== 'esxi' || o.reachable !== true) return observation;
  const { now: _now, heartbeat, nfsRoute: _route, agentProcesses, warnings: _warnings, legacy, ...rest } = o as EsxiObserved;
  const commands = (ps: { command: string }[] | undefined) => [...new Set((ps ?? []).map((p) => p.command))].sort();
  const stable: Record<string, unknown> = { ...rest, agentCommands: commands(agentProcesses) };
  if (heartbeat !== undefined) stable.heartbeatVersion = heartbeat.version;
  if (legacy !== undefined) {
    const { processes, ...files } = legacy;
    stable.legacy = { ...files, commands: commands(processes) };
  }
  return stable;
}

/** sha256 of the canonical JSON of the stable part of one host's observation (`null` when there is none). */
export function observationFingerprint(observation: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(stableObservation(observation) ?? null), 'utf8')
    .digest('hex');
}

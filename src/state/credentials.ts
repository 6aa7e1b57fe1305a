import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { utils as ssh2Utils, type ParsedKey } from 'ssh2';
import { RerouteError } from '../errors/reroute-error';
import type { CredentialSource } from '../manifest/manifest-types';
import { Sensitive } from '../core/sensitive';

/** A credential ready for connectSsh; every secret is wrapped so it prints as `(sensitive)`. */
export interface ResolvedCredential {
  kind: CredentialSource['kind'];
  /** Where it came from, safe to print: `key file /root/.ssh/id_ed25519`, `password from $ESXI_PASSWORD`. */
  description: string;
  privateKey?: Sensitive<Buffer>;
  passphrase?: Sensitive<string>;
  /** The key as decrypted with the passphrase (so no handshake decrypts it again). */
  decryptedKey?: Sensitive<ParsedKey>;
  password?: Sensitive<string>;
  /** ssh-agent socket path. */
  agent?: string;
}

/** Asks the operator; `secret` means do not echo. Injected so tests and non-TTY runs control it. */
export type PromptFn = (question: string, opts: { secret: boolean }) => Promise<string>;

export interface CredentialContext {
  /** e.g. `root on the ESXi hosts`, `smartx on the SCVMs` (used in messages and the prompt). */
  who: string;
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Relative key paths resolve against this (the manifest's folder); default the working directory. */
  baseDir?: string;
  prompt?: PromptFn;
}

export function expandHome(path: string, home: string = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

function missing(message: string, fix: string, details: Record<string, unknown> = {}): RerouteError {
  return new RerouteError('CREDENTIAL_MISSING', message, fix, { details });
}

/**
 * Turn the manifest's credential source into usable secrets, failing early
 * (before any connection) with CREDENTIAL_MISSING and a fix. Messages name
 * files and variables, never their contents.
 */
export async function resolveCredential(source: CredentialSource, ctx: CredentialContext): Promise<ResolvedCredential> {
  const env = ctx.env ?? process.env;
  switch (source.kind) {
    case 'key-file': {
      const expanded = expandHome(source.path, ctx.homeDir);
      const path = isAbsolute(expanded) ? expanded : resolve(ctx.baseDir ?? process.cwd(), expanded);
      let key: Buffer;
      try {
        if (!statSync(path).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        key = readFileSync(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw missing(`Cannot read the SSH key file ${path} for ${ctx.who} (${code})`, `Create the key or fix the path in the manifest's access section (\`ssh-keygen -t ed25519 -f ${path}\`), and make it readable by this user.`, { path });
      }
      let passphrase: string | undefined;
      if (source.passphraseEnv !== undefined) {
        passphrase = env[source.passphraseEnv];
        if (passphrase === undefined || passphrase === '') {
          throw missing(`The passphrase for ${path} should be in $${source.passphraseEnv}, which is not set`, `Export ${source.passphraseEnv} before running, or use an ssh-agent source instead.`, { path, env: source.passphraseEnv });
        }
      }
      const parsed = ssh2Utils.parseKey(key, passphrase);
      const k = Array.isArray(parsed) ? parsed[0] : parsed;
      if (k instanceof Error || k === undefined) {
        const msg = k instanceof Error ? k.message : '';
        if (/encrypted|passphrase|decrypt|bad decrypt/i.test(msg)) {
          throw passphrase === undefined
            ? missing(`The SSH key ${path} is encrypted and no passphrase source is set`, 'Add passphraseEnv: NAME to the key-file credential and export NAME, or load the key into ssh-agent and use an agent source.', { path })
            : missing(`The passphrase in $${source.passphraseEnv} does not decrypt ${path}`, `Check the value of ${source.passphraseEnv}.`, { path, env: source.passphraseEnv });
        }
        throw missing(`${path} is not an SSH private key this tool can read`, 'Point the manifest at an OpenSSH or PEM private key (not the .pub file).', { path });
      }
      if (!k.isPrivateKey()) throw missing(`${path} holds a public key, not a private key`, 'Point the manifest at the private half (the file without .pub).', { path });
      return {
        kind: 'key-file',
        description: `key file ${path}`,
        privateKey: new Sensitive(key),
        // Decrypting is a bcrypt KDF (~1-2 s of blocking CPU for an OpenSSH-format key): done once
        // here, not again in every connection's handshake, where it stalled the event loop past
        // other connections' timeouts.
        ...(passphrase !== undefined ? { passphrase: new Sensitive(passphrase), decryptedKey: new Sensitive(k) } : {}),
      };
    }
    case 'agent': {
      const sock = env[source.socketEnv];
      if (!sock) {
        throw missing(`No ssh-agent for ${ctx.who}: $${source.socketEnv} is not set`, `Start an agent and add the key (\`eval $(ssh-agent); ssh-add KEY\`) in this shell, or use a key-file source.`, { env: source.socketEnv });
      }
      let isSocket: boolean;
      try {
        isSocket = statSync(sock).isSocket();
      } catch {
        isSocket = false;
      }
      if (!isSocket) {
        throw missing(`$${source.socketEnv} points at ${sock}, which is not a live ssh-agent socket`, 'Restart the agent (`eval $(ssh-agent)`) and add the key again, or use a key-file source.', { env: source.socketEnv, path: sock });
      }
      return { kind: 'agent', description: `ssh-agent at $${source.socketEnv}`, agent: sock };
    }
    case 'password-env': {
      const pw = env[source.env];
      if (pw === undefined || pw === '') {
        throw missing(`The password for ${ctx.who} should be in $${source.env}, which is not set`, `Export it without leaving it in shell history, e.g. \`read -rs ${source.env} && export ${source.env}\`, then re-run.`, { env: source.env });
      }
      return { kind: 'password-env', description: `password from $${source.env}`, password: new Sensitive(pw) };
    }
    case 'prompt': {
      if (!ctx.prompt) {
        throw missing(`The manifest asks to prompt for the password of ${ctx.who}, but there is no terminal to ask on`, 'Run from an interactive terminal, or switch the credential to password-env and export the variable.');
      }
      const pw = await ctx.prompt(`Password for ${ctx.who}: `, { secret: true });
      if (pw === '') throw missing(`No password entered for ${ctx.who}`, 'Enter the password when asked, or switch the credential to password-env.');
      return { kind: 'prompt', description: 'password typed at the prompt', password: new Sensitive(pw) };
    }
    default: {
      const never: never = source;
      throw new RerouteError('INTERNAL', `Unknown credential kind ${JSON.stringify(never)}`, 'This is a bug in zbs-reroute; please report it.');
    }
  }
}

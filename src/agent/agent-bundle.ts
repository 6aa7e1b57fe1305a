/** The agent scripts as shipped in esxi/agent, read once by src/agent/shipped-bundle.ts. */
export interface AgentBundle {
  version: string;
  /** file name → template text (the planner renders per-host values into the config file, not the scripts). */
  files: Record<string, string>;
}

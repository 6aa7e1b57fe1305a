/** What the rest of src/ imports for SSH; the code is in ssh-auth, ssh-connect and ssh-command. */
export type { KeyboardInteractiveHandler, SshCredential } from './ssh-auth';
export { execChecked, type ExecOptions, type ExecResult, type RemoteHost } from './ssh-command';
export {
  connectSsh,
  hostKeyAlgorithmOrder,
  SshRemoteHost,
  type ConnectSshOptions,
  type HostKeyDecision,
  type HostKeyPolicy,
} from './ssh-connect';

import type { KeyboardInteractiveCallback, ParsedKey, Prompt } from 'ssh2';
import { reveal, type Sensitive } from '../core/sensitive';

/**
 * A credential after resolution (see src/state/credentials.ts). Secrets may be
 * plain or wrapped in Sensitive; they are unwrapped only inside the handshake.
 */
export interface SshCredential {
  privateKey?: Buffer | Sensitive<Buffer>;
  passphrase?: string | Sensitive<string>;
  /** privateKey already decrypted with passphrase: used instead of both. */
  decryptedKey?: ParsedKey | Sensitive<ParsedKey>;
  password?: string | Sensitive<string>;
  /** Path of an ssh-agent socket. */
  agent?: string;
}

/**
 * Answers keyboard-interactive prompts that are not a plain password prompt
 * (e.g. a one-time code). Must always resolve: an unanswered prompt would
 * leave the handshake waiting until readyTimeout.
 */
export type KeyboardInteractiveHandler = (
  name: string,
  instructions: string,
  prompts: Array<{ prompt: string; echo: boolean }>,
) => Promise<string[]>;

const PASSWORD_PROMPT = /pass(word|code|phrase)?\s*:?\s*$/i;

export type AuthAttempt =
  | { type: 'publickey'; username: string; key: Buffer | ParsedKey; passphrase?: string }
  | { type: 'agent'; username: string; agent: string }
  | { type: 'password'; username: string; password: string }
  | {
      type: 'keyboard-interactive';
      username: string;
      prompt: (name: string, instructions: string, lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => void;
    };

/**
 * The methods we try, in order. keyboard-interactive is only ever offered with
 * a handler that always answers: ssh2's bare `tryKeyboard` hangs the
 * handshake. ESXi's sshd asks for the root password through
 * keyboard-interactive (PAM), so a password is offered both ways.
 */
export function authAttempts(opts: {
  username: string;
  credential: SshCredential;
  keyboardInteractive?: KeyboardInteractiveHandler;
}): AuthAttempt[] {
  const { username, credential: c } = opts;
  const out: AuthAttempt[] = [];
  const key = reveal(c.privateKey);
  const decrypted = reveal(c.decryptedKey);
  if (decrypted) out.push({ type: 'publickey', username, key: decrypted });
  else if (key) {
    const passphrase = reveal(c.passphrase);
    out.push(passphrase === undefined ? { type: 'publickey', username, key } : { type: 'publickey', username, key, passphrase });
  }
  if (c.agent) out.push({ type: 'agent', username, agent: c.agent });
  const password = reveal(c.password);
  if (password !== undefined) out.push({ type: 'password', username, password });
  if (password !== undefined || opts.keyboardInteractive) {
    let passwordAnswers = 0;
    out.push({
      type: 'keyboard-interactive',
      username,
      prompt: (name, instructions, _lang, prompts, finish) => {
        if (
          prompts.length > 0 &&
          password !== undefined &&
          passwordAnswers < 2 &&
          prompts.every((p) => !p.echo && PASSWORD_PROMPT.test(p.prompt))
        ) {
          passwordAnswers++;
          finish(prompts.map(() => password));
          return;
        }
        if (!opts.keyboardInteractive) {
          finish(prompts.map(() => ''));
          return;
        }
        opts
          .keyboardInteractive(
            name,
            instructions,
            prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true })),
          )
          .then(finish, () => finish(prompts.map(() => '')));
      },
    });
  }
  return out;
}

/** ssh2's authHandler, over the attempts in order; one per connection, as it remembers how far it got. */
export function authHandler(
  attempts: AuthAttempt[],
): (methodsLeft: string[] | null, partial: boolean | null, callback: (next: AuthAttempt | false) => void) => void {
  let next = 0;
  return (methodsLeft, _partial, callback) => {
    // methodsLeft is null before the server has told us what it accepts.
    while (next < attempts.length) {
      const a = attempts[next++] as AuthAttempt;
      const wire = a.type === 'agent' ? 'publickey' : a.type;
      if (methodsLeft === null || methodsLeft.includes(wire)) {
        callback(a);
        return;
      }
    }
    callback(false);
  };
}

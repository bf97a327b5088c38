/**
 * Where a database user's password comes from: standard input (`--password-stdin`), a prompt on
 * the terminal that echoes nothing, or — with a warning — `--password` on the command line.
 */
import { UsageError } from '../../errors.js';

/** Longest password read from stdin; a longer input is not a password (a file piped by mistake). */
export const PASSWORD_LENGTH_MAX = 1_024;

/** The password flags of a command, as commander hands them over. */
export interface PasswordOptions {
  readonly passwordStdin?: boolean;
  readonly password?: string;
}

/** Where the password is read from; the terminal streams in the real command. */
export interface PasswordSources {
  readonly stdin: NodeJS.ReadStream;
  readonly stderr: NodeJS.WriteStream;
}

/**
 * The password for `user`: the first line of stdin with `--password-stdin`; `--password` (with a
 * warning: the process list and the shell's history show it); else a prompt when stdin is a
 * terminal, which echoes nothing. Without a terminal and without a flag it is a usage error.
 *
 * @example
 * // printf '%s\n' "$PW" | strata users create my-db alice --password-stdin
 * const password = await readPassword({ passwordStdin: true }, 'alice');
 */
export async function readPassword(options: PasswordOptions, user: string, sources: PasswordSources = { stdin: process.stdin, stderr: process.stderr }): Promise<string> {
  if (options.passwordStdin && options.password !== undefined) throw new UsageError('give --password-stdin or --password, not both');
  let password: string;
  if (options.passwordStdin) {
    password = await readStdinLine(sources.stdin);
  } else if (options.password !== undefined) {
    sources.stderr.write('strata: warning: --password puts the password in the process list and shell history; use --password-stdin or the prompt\n');
    password = options.password;
  } else if (sources.stdin.isTTY) {
    password = await prompt(`password for ${user}: `, sources);
  } else {
    throw new UsageError(`no password for ${user}: pipe it in with --password-stdin (printf '%s\\n' "$PASSWORD" | strata … --password-stdin), or run on a terminal to be asked`);
  }
  if (password === '') throw new UsageError(`the password for ${user} is empty; give one of at least one character`);
  if (password.length > PASSWORD_LENGTH_MAX) throw new UsageError(`the password for ${user} is over ${PASSWORD_LENGTH_MAX} characters; is that the right input?`);
  return password;
}

/** The first line of stdin (without its line ending), read to the end or the first newline. */
async function readStdinLine(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(buffer);
    bytes += buffer.length;
    if (buffer.includes(0x0a) || bytes > PASSWORD_LENGTH_MAX * 4) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const newline = text.indexOf('\n');
  return (newline < 0 ? text : text.slice(0, newline)).replace(/\r$/, '');
}

/** Asks on the terminal in raw mode: characters are read but never echoed. */
function prompt(question: string, { stdin, stderr }: PasswordSources): Promise<string> {
  return new Promise((resolve, reject) => {
    stderr.write(question);
    let typed = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (error?: Error) => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.off('data', onData);
      stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: string) => {
      for (const character of data) {
        if (character === '\r' || character === '\n' || character === '\u0004') return done();
        if (character === '\u0003') return done(new UsageError('cancelled at the password prompt'));
        if (character === '\u007f' || character === '\b') typed = typed.slice(0, -1);
        else typed += character;
      }
    };
    stdin.on('data', onData);
  });
}

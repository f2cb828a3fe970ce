// What --cloud-init finds on the host, read-only: the caller's name and home, the public key to install
// (--ssh-key FILE, else ~/.ssh/id_ed25519.pub or id_rsa.pub, else the tool's own pair if made already),
// and the caller's own user-data, checked before anything is made.
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../base/errors.ts';
import { hostKeyPath, ownKeyPath } from '../base/paths.ts';
import { readUserFile } from './host-access.ts';
import type { CloudInitFacts, CloudInitRequest } from '../base/types.ts';

const PUBLIC_KEY = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$/;

/** What a public key file or the user's user-data may weigh: keys are one line, NoCloud seeds small. */
const KEY_LIMIT = 16 * 1024;
const USER_DATA_LIMIT = 1024 * 1024;

function readKey(publicPath: string, said: string): NonNullable<CloudInitFacts['key']> {
  const text = readUserFile(publicPath, said, KEY_LIMIT).trim();
  if (!PUBLIC_KEY.test(text)) {
    throw new UsageError(`${said}: ${publicPath} is not an SSH public key (one line, ssh-ed25519 ...)`);
  }
  const privatePath = publicPath.replace(/\.pub$/, '');
  const beside = privatePath !== publicPath && existsSync(privatePath);
  return { publicPath, text, privatePath: beside ? privatePath : undefined };
}

/** The key to install: asked for, the caller's usual one, or the tool's own (undefined: it is still to be made). */
function findKey(request: CloudInitRequest, home: string, cwd: string): CloudInitFacts['key'] {
  if (request.sshKey !== undefined) return readKey(resolve(cwd, request.sshKey), '--ssh-key');
  for (const candidate of [`${home}/.ssh/id_ed25519.pub`, `${home}/.ssh/id_rsa.pub`, `${ownKeyPath(home)}.pub`]) {
    if (existsSync(candidate)) return readKey(candidate, 'cloud-init key');
  }
  return undefined;
}

/** The caller's user-data: a #cloud-config that parses as YAML, or a #! script; anything else is refused. */
async function readUserData(path: string): Promise<NonNullable<CloudInitFacts['userData']>> {
  const text = readUserFile(path, '--user-data', USER_DATA_LIMIT);
  if (text.startsWith('#!')) return { path, text, kind: 'script' };
  if (!/^#cloud-config\s*\n/.test(text)) {
    throw new UsageError(`--user-data: ${path} starts with neither #cloud-config nor #! (a script)`);
  }
  // Loaded only here: no other command pays for a YAML parser.
  const yaml = await import('yaml');
  const document = yaml.parseDocument(text);
  if (document.errors.length > 0) {
    const [first] = document.errors;
    // Its message ends with a drawing of the place, over several lines: one line is said.
    const what = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    const line = first.linePos?.[0].line;
    throw new UsageError(`--user-data: ${path} is not valid YAML${line ? ` (line ${line})` : ''}: ${what}`, {
      cause: first,
    });
  }
  if (document.contents !== null && !yaml.isMap(document.contents)) {
    throw new UsageError(`--user-data: ${path} is not a cloud-config mapping (keys like packages:, runcmd:)`);
  }
  return { path, text, kind: 'cloud-config' };
}

export async function probeCloudInit(request: CloudInitRequest, env: Record<string, string | undefined>, cwd: string) {
  const user = userInfo();
  const home = env.HOME || user.homedir;
  const facts: CloudInitFacts = { user: user.username, home, key: findKey(request, home, cwd) };
  if (request.userData !== undefined) facts.userData = await readUserData(resolve(cwd, request.userData));
  return facts;
}

/** The host key made for one instance earlier (undefined: not yet, or not readable: it is made again). */
export function readHostKey(home: string, instanceId: string): CloudInitFacts['hostKey'] {
  const path = hostKeyPath(home, instanceId);
  try {
    const privateText = readFileSync(path, 'utf8');
    const publicText = readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    return PUBLIC_KEY.test(publicText) ? { instanceId, publicText, privateText } : undefined;
  } catch {
    return undefined;
  }
}

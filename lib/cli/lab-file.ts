// A lab file (lab.yaml) read into what `net create` and `create` would be given: its networks as network
// requests, its guests as launch words (count: N makes NAME1..NAMEN), `defaults` under every guest. Every error
// names the file, line and column, and the key; an unknown key is refused with the closest known one. The JSON
// Schema (`qemu-script lab schema`) says the same for editors.
import { dirname, resolve } from 'node:path';
import type { LineCounter, Node, Scalar, YAMLMap } from 'yaml';
import { UsageError } from '../base/errors.ts';
import { GUEST_NAME, NETWORK_NAME } from '../base/names.ts';
import { closest } from '../base/suggest.ts';
import type { NetworkRequest } from '../net/networks.ts';
import { OWN_OPTIONS } from './own-options.ts';

export interface LabGuest {
  name: string;
  /** The image it is over (`image`), or the disk adopted as its base (`disk`). */
  base: string;
  /** The launch options `create` keeps for it (--disk-size among them), in the order the keys were written. */
  words: string[];
  /** Its inline user_data, written by the lab beside its other files; the words name that file. */
  userData?: string;
}

export interface Lab {
  name: string;
  file: string;
  networks: NetworkRequest[];
  guests: LabGuest[];
}

/** Keys of their own; every other long option of the launch line is a guest key of the same name. */
const OWN_KEYS = ['image', 'disk', 'count', 'cpus', 'memory', 'disk_size', 'nets', 'forwards', 'user_data', 'qemu'];
/** Own options a lab gives another way (nets, forwards, its names, disk_size) or that are about one run. */
const NOT_KEYS = [
  ...['name', 'net', 'fwd', 'disk', 'disk-size', 'dry-run', 'json', 'verbose', 'quiet', 'help', 'version', 'wait'],
];
const OPTION_KEYS = OWN_OPTIONS.map((option) => option.name).filter(
  (name) => !NOT_KEYS.includes(name) && !OWN_KEYS.includes(name) && name !== 'foreground',
);
const GUEST_KEYS = [...OWN_KEYS, ...OPTION_KEYS];
const NETWORK_KEYS = ['subnet', 'host_ip', 'subnet6', 'ipv6', 'dhcp', 'nat', 'domain', 'vxlan'];
const VXLAN_KEYS = ['vni', 'remotes', 'dev', 'port', 'group'];
const TOP_KEYS = ['name', 'networks', 'defaults', 'guests'];
const LAB_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const MAX_COUNT = 64;

type Yaml = typeof import('yaml');

/** Reads nodes, and says where a wrong one is: FILE:LINE:COLUMN. */
class Reader {
  constructor(
    readonly file: string,
    private readonly counter: LineCounter,
    private readonly yaml: Yaml,
  ) {}

  fail(node: Node | null | undefined, what: string): never {
    const offset = node?.range?.[0];
    const at = offset === undefined ? '' : `:${this.counter.linePos(offset).line}:${this.counter.linePos(offset).col}`;
    throw new UsageError(`${this.file}${at}: ${what}`);
  }

  isNull = (node: Node | null) => node === null || (this.yaml.isScalar(node) && node.value === null);
  isSeq = (node: Node | null) => this.yaml.isSeq(node);

  /** A mapping's entries, each key a known one (else refused with the closest). */
  entries(node: Node | null, near: Node | null, what: string, known: string[]): Array<[string, Node | null, Node]> {
    if (!this.yaml.isMap(node)) this.fail(node ?? near, `${what} is a mapping (key: value lines)`);
    return (node as YAMLMap).items.map((pair) => {
      const keyNode = pair.key as Scalar & Node;
      const key = String(keyNode?.value ?? '');
      if (known.length > 0 && !known.includes(key)) {
        const guess = closest(key, known)[0];
        this.fail(keyNode, `unknown key ${key} in ${what}${guess ? ` (did you mean ${guess}?)` : ''}`);
      }
      return [key, pair.value as Node | null, keyNode];
    });
  }

  value(node: Node | null, key: string): string | number | boolean {
    if (!this.yaml.isScalar(node) || node.value === null || typeof node.value === 'object')
      this.fail(node, `${key} takes one value (a word, a number, or true or false)`);
    return node.value as string | number | boolean;
  }

  text(node: Node | null, key: string): string {
    const value = this.value(node, key);
    if (typeof value === 'boolean') this.fail(node, `${key} takes a word or a number, not ${value}`);
    return String(value);
  }

  flag(node: Node | null, key: string): boolean {
    const value = this.value(node, key);
    if (typeof value !== 'boolean') this.fail(node, `${key} is true or false`);
    return value;
  }

  list(node: Node | null, key: string): Node[] {
    if (!this.yaml.isSeq(node)) this.fail(node, `${key} is a list ([a, b], or lines starting with -)`);
    return node.items as Node[];
  }

  texts(node: Node | null, key: string): string[] {
    return this.list(node, key).map((item) => this.text(item, key));
  }
}

function readVxlan(reader: Reader, node: Node | null, near: Node): NonNullable<NetworkRequest['vxlan']> {
  const vxlan: Partial<NonNullable<NetworkRequest['vxlan']>> = {};
  for (const [key, value] of reader.entries(node, near, 'vxlan', VXLAN_KEYS)) {
    const many = key === 'remotes' && reader.isSeq(value);
    const word = many ? reader.texts(value, key).join(',') : reader.text(value, key);
    vxlan[key as keyof typeof vxlan] = word;
  }
  if (vxlan.vni === undefined) reader.fail(node, 'vxlan needs its vni');
  return vxlan as NonNullable<NetworkRequest['vxlan']>;
}

/** A network: what `net create` takes; in a lab DHCP is on unless said (its guests find each other by name). */
function readNetwork(reader: Reader, name: string, keyNode: Node, node: Node | null): NetworkRequest {
  if (!NETWORK_NAME.test(name))
    reader.fail(keyNode, `network ${name}: a lower-case letter, then letters, digits or -, at most 15`);
  const request: NetworkRequest = { name, ipv6: true, dhcp: true, nat: false };
  if (reader.isNull(node)) return request;
  for (const [key, value, at] of reader.entries(node, keyNode, `network ${name}`, NETWORK_KEYS)) {
    if (key === 'subnet') request.subnet = reader.text(value, key);
    else if (key === 'host_ip') request.hostIp = reader.text(value, key);
    else if (key === 'subnet6') request.subnet6 = reader.text(value, key);
    else if (key === 'ipv6') request.ipv6 = reader.flag(value, key);
    else if (key === 'dhcp') request.dhcp = reader.flag(value, key);
    else if (key === 'nat') request.nat = reader.flag(value, key);
    else if (key === 'domain') request.domain = reader.text(value, key);
    else request.vxlan = readVxlan(reader, value, at);
  }
  return request;
}

/** One guest's keys (its defaults first, its own over them) as launch words. */
function guestWords(reader: Reader, keys: Map<string, [Node | null, Node]>) {
  const words: string[] = [];
  const qemu: string[] = [];
  let userData: string | undefined;
  let count = 1;
  for (const [key, [value]] of keys) {
    if (key === 'image' || key === 'disk') continue;
    if (key === 'count') {
      count = Number(reader.text(value, key));
      if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT)
        reader.fail(value, `count is a whole number from 1 to ${MAX_COUNT}`);
    } else if (key === 'cpus') words.push('-smp', reader.text(value, key));
    else if (key === 'memory') words.push('-m', reader.text(value, key));
    else if (key === 'disk_size') words.push('--disk-size', reader.text(value, key));
    else if (key === 'nets') {
      const nets = reader.isSeq(value) ? reader.texts(value, key) : [reader.text(value, key)];
      words.push('--net', nets.join(','));
    } else if (key === 'forwards') for (const forward of reader.texts(value, key)) words.push('--fwd', forward);
    else if (key === 'user_data') {
      const text = reader.text(value, key);
      // Inline (more than one line): written by the lab; else a file beside the lab file.
      if (text.includes('\n')) userData = text;
      else words.push('--user-data', resolve(dirname(reader.file), text));
    } else if (key === 'qemu') qemu.push(...reader.texts(value, key));
    else {
      const option = OWN_OPTIONS.find((entry) => entry.name === key)!;
      const values = reader.isSeq(value) ? reader.list(value, key) : [value];
      if (values.length > 1 && !option.repeatable) reader.fail(value, `${key} takes one value`);
      for (const item of values) {
        if (!option.value) {
          if (reader.flag(item, key)) words.push(`--${key}`);
        } else words.push(`--${key}`, reader.text(item, key));
      }
    }
  }
  return { words: [...words, ...(qemu.length > 0 ? ['--', ...qemu] : [])], count, userData };
}

function readGuests(reader: Reader, node: Node | null, near: Node, defaults: Array<[string, Node | null, Node]>) {
  const guests: LabGuest[] = [];
  for (const [name, value, keyNode] of reader.entries(node, near, 'guests', [])) {
    const own = reader.isNull(value) ? [] : reader.entries(value, keyNode, `guest ${name}`, GUEST_KEYS);
    const keys = new Map<string, [Node | null, Node]>();
    // A guest's own image or disk is its base, whichever of the two the defaults give.
    const ownBase = own.some(([key]) => key === 'image' || key === 'disk');
    const inherited = defaults.filter(([key]) => !ownBase || (key !== 'image' && key !== 'disk'));
    for (const [key, item, at] of [...inherited, ...own]) keys.set(key, [item, at]);
    if (keys.has('image') && keys.has('disk'))
      reader.fail(keys.get('disk')![1], `guest ${name}: image or disk, not both`);
    const baseNode = keys.get('image') ?? keys.get('disk');
    const base = baseNode ? reader.text(baseNode[0], keys.has('image') ? 'image' : 'disk') : '';
    if (!base) reader.fail(keyNode, `guest ${name}: give its image (image: debian-12) or the disk it is over`);
    const { words, count, userData } = guestWords(reader, keys);
    const names = count === 1 ? [name] : Array.from({ length: count }, (_, i) => `${name}${i + 1}`);
    for (const each of names) {
      if (!GUEST_NAME.test(each)) reader.fail(keyNode, `guest ${each}: letters, digits and inner hyphens, at most 63`);
      if (guests.some((guest) => guest.name === each)) reader.fail(keyNode, `guest ${each} is named twice`);
      const fullBase = keys.has('disk') ? resolve(dirname(reader.file), base) : base;
      guests.push({ name: each, base: fullBase, words, ...(userData ? { userData } : {}) });
    }
  }
  return guests;
}

/** The lab file at PATH, read and checked (nothing is made here). */
export async function readLab(path: string, text: string): Promise<Lab> {
  const yaml = await import('yaml');
  const counter = new yaml.LineCounter();
  const document = yaml.parseDocument(text, { lineCounter: counter, uniqueKeys: true });
  const reader: Reader = new Reader(path, counter, yaml);
  if (document.errors.length > 0) {
    const [first] = document.errors;
    const at = first.linePos?.[0];
    const what = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new UsageError(`${path}${at ? `:${at.line}:${at.col}` : ''}: ${what}`);
  }
  const entries = reader.entries(document.contents as Node | null, null, 'the lab file', TOP_KEYS);
  const top = new Map(entries.map((entry) => [entry[0], entry]));
  const nameEntry = top.get('name');
  if (!nameEntry) reader.fail(document.contents as Node, 'the lab needs a name (name: LAB)');
  const name = reader.text(nameEntry[1], 'name');
  if (!LAB_NAME.test(name))
    reader.fail(nameEntry[1], `name ${name}: a lower-case letter, then letters, digits or -, at most 32`);
  const networks = top.has('networks')
    ? reader.entries(top.get('networks')![1], top.get('networks')![2], 'networks', []).map(([key, value, at]) =>
        readNetwork(reader, key, at, value),
      )
    : [];
  const defaults = top.has('defaults')
    ? reader.entries(top.get('defaults')![1], top.get('defaults')![2], 'defaults', GUEST_KEYS)
    : [];
  if (!top.has('guests')) reader.fail(document.contents as Node, 'the lab has no guests (guests: NAME: {image: ...})');
  const guests = readGuests(reader, top.get('guests')![1], top.get('guests')![2], defaults);
  return { name, file: path, networks, guests };
}

/** The JSON Schema of a lab file, for editors (yaml-language-server: # $schema=...). */
export function labSchema(): Record<string, unknown> {
  const option = (name: string) => {
    const own = OWN_OPTIONS.find((entry) => entry.name === name)!;
    const one = own.value ? { type: ['string', 'number'] } : { type: 'boolean' };
    return { description: own.help, ...(own.repeatable ? { oneOf: [one, { type: 'array', items: one }] } : one) };
  };
  const guest = {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: {
      image: { type: 'string', description: 'the image it is over (qemu-script image ls), or a file' },
      disk: { type: 'string', description: 'a disk to adopt as its base, instead of an image' },
      count: { type: 'integer', minimum: 1, maximum: MAX_COUNT, description: 'NAME1..NAMEN' },
      cpus: { type: ['integer', 'string'], description: 'QEMU -smp' },
      memory: { type: ['integer', 'string'], description: 'QEMU -m: MiB, or with a suffix (2G)' },
      disk_size: { type: 'string', description: 'its overlay grown to this size (20G)' },
      nets: {
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
        description: '--net: its NICs in order; NAME=ADDRESS gives a NIC on a defined network a fixed address',
      },
      forwards: { type: 'array', items: { type: 'string' }, description: '--fwd [tcp:|udp:]HOST-GUEST' },
      user_data: { type: 'string', description: 'a #cloud-config or #! script, inline, or a file beside the lab' },
      qemu: { type: 'array', items: { type: 'string' }, description: 'QEMU arguments, as after -- on a launch line' },
      ...Object.fromEntries(OPTION_KEYS.map((name) => [name, option(name)])),
    },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'qemu-script lab',
    type: 'object',
    additionalProperties: false,
    required: ['name', 'guests'],
    properties: {
      name: { type: 'string', pattern: LAB_NAME.source },
      networks: {
        type: 'object',
        additionalProperties: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            subnet: { type: 'string' },
            host_ip: { type: 'string' },
            subnet6: { type: 'string' },
            ipv6: { type: 'boolean' },
            dhcp: { type: 'boolean', default: true },
            nat: { type: 'boolean', default: false },
            domain: { type: 'string' },
            vxlan: {
              type: 'object',
              additionalProperties: false,
              required: ['vni'],
              properties: {
                vni: { type: 'integer' },
                remotes: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
                dev: { type: 'string' },
                port: { type: 'integer' },
                group: { type: 'string' },
              },
            },
          },
        },
      },
      defaults: guest,
      guests: { type: 'object', additionalProperties: guest },
    },
  };
}

// Checksums of whole files: a SHA256SUMS/SHA512SUMS file read for one name, and a file's digest computed as
// it streams (an image is hundreds of MiB: never read whole into memory).
import { createReadStream } from 'node:fs';
import { builtin } from '../base/builtin.ts';

export type Algorithm = 'sha256' | 'sha512';

export interface Expected {
  algorithm: Algorithm;
  hex: string;
  /** Where it came from, as `image ls` says it: "--sha256", or the sums file's address. */
  from: string;
}

const LENGTH: Record<number, Algorithm> = { 64: 'sha256', 128: 'sha512' };

/** --sha256 HEX: 64 hexadecimal digits, or undefined. */
export function parseSha256(text: string): string | undefined {
  return /^[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() : undefined;
}

/**
 * The entry for FILE in a checksum file: GNU's "HEX  NAME" or "HEX *NAME" lines, or BSD's "SHA256 (NAME) = HEX";
 * the algorithm from the digest's length. Undefined when FILE is not listed.
 */
export function sumFor(sums: string, file: string): Omit<Expected, 'from'> | undefined {
  for (const line of sums.split('\n')) {
    const gnu = /^([0-9a-fA-F]+) [ *](.+)$/.exec(line.trim());
    const bsd = /^SHA(?:256|512) \((.+)\) = ([0-9a-fA-F]+)$/.exec(line.trim());
    const [hex, name] = gnu ? [gnu[1], gnu[2]] : bsd ? [bsd[2], bsd[1]] : [];
    const algorithm = hex ? LENGTH[hex.length] : undefined;
    if (algorithm && name?.replace(/^\.\//, '') === file) return { algorithm, hex: hex!.toLowerCase() };
  }
  return undefined;
}

/** The digest of a file, streamed. */
export async function digestOf(path: string, algorithm: Algorithm): Promise<string> {
  const { createHash } = await builtin<typeof import('node:crypto')>('node:crypto');
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

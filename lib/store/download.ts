// A file fetched over HTTP(S) into a partial file that a later run resumes (a Range request from where it
// stopped), with progress on a terminal. Nothing is trusted here: the caller checks the whole file's checksum
// before it keeps it.
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { HostError } from '../base/errors.ts';
import { printErr } from '../base/output.ts';

const MiB = 1024 * 1024;

/** Bytes already in PATH (0 when there is none). */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** A progress line on a terminal, at most every 200 ms; nothing elsewhere. */
function progress(label: string, total: number | undefined) {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  const line = (done: number) =>
    `\r${label}: ${(done / MiB).toFixed(1)} MiB` +
    (total ? ` of ${(total / MiB).toFixed(1)} MiB (${Math.floor((done * 100) / total)}%)` : '');
  return {
    update(done: number) {
      if (!tty || Date.now() - last < 200) return;
      last = Date.now();
      printErr(line(done));
    },
    end(done: number) {
      if (tty) printErr(`${line(done)}\n`);
    },
  };
}

/** A text file (a checksum list) fetched whole; at most 1 MiB. */
export async function fetchText(url: string, what: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new HostError(`${what}: cannot fetch ${url} (${causeOf(error)})`, { cause: error });
  }
  if (!response.ok) throw new HostError(`${what}: ${url} answered ${response.status} ${response.statusText}`);
  const text = await response.text();
  if (text.length > MiB) throw new HostError(`${what}: ${url} is over 1 MiB: not a checksum list`);
  return text;
}

const causeOf = (error: unknown) => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
};

/**
 * Fetches URL into PARTIAL, resuming what is there: a server that honours the Range request (206) appends to
 * it, one that sends the whole file again (200) starts it over. Throws, keeping PARTIAL, when the transfer
 * stops: the same command resumes it.
 */
export async function download(url: string, partial: string, label: string): Promise<void> {
  const have = sizeOf(partial);
  let response: Response;
  try {
    response = await fetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  } catch (error) {
    throw new HostError(`cannot fetch ${url} (${causeOf(error)})`, { cause: error });
  }
  // Everything was there already: the checksum decides.
  if (response.status === 416 && have > 0) return;
  if (!response.ok) throw new HostError(`${url} answered ${response.status} ${response.statusText}`);
  const resumed = response.status === 206;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? length + (resumed ? have : 0) : undefined;
  const fd = openSync(partial, resumed ? 'a' : 'w', 0o600);
  let done = resumed ? have : 0;
  const shown = progress(label, total);
  try {
    for await (const chunk of response.body ?? []) {
      const bytes = chunk as Uint8Array;
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
      done += bytes.length;
      shown.update(done);
    }
  } catch (error) {
    throw new HostError(
      `the download of ${url} stopped at ${done} of ${total ?? '?'} bytes (${causeOf(error)}); ` +
        'the same command resumes it',
      { cause: error },
    );
  } finally {
    closeSync(fd);
  }
  shown.end(done);
  if (total !== undefined && done < total)
    throw new HostError(`the download of ${url} stopped at ${done} of ${total} bytes; the same command resumes it`);
}

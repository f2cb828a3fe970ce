// Just enough of DNS to ask a network's own server for one name's IPv4 address: the query packet and the
// addresses in its answer (RFC 1035 §4.1). Pure; the question is sent by the DHCP kind after it registers
// a guest, so that a server that cannot read its files is found before QEMU starts.

/** A standard query, recursion desired, for the A records of NAME. */
export function dnsQuery(id: number, name: string): Buffer {
  const labels = name.split('.').filter(Boolean);
  const question = Buffer.concat([
    ...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'ascii')])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, question]);
}

/** Skips a (possibly compressed) name at OFFSET; the offset after it. */
function skipName(packet: Buffer, offset: number): number {
  while (offset < packet.length) {
    const length = packet[offset];
    if (length === 0) return offset + 1;
    if ((length & 0xc0) === 0xc0) return offset + 2;
    offset += 1 + length;
  }
  return offset;
}

/** The IPv4 addresses of the A records in the answer to query ID; [] for any other packet. */
export function dnsAnswers(packet: Buffer, id: number): string[] {
  if (packet.length < 12 || packet.readUInt16BE(0) !== id || (packet.readUInt16BE(2) & 0x8000) === 0) return [];
  const questions = packet.readUInt16BE(4);
  const answers = packet.readUInt16BE(6);
  let offset = 12;
  for (let i = 0; i < questions; i++) offset = skipName(packet, offset) + 4;
  const found: string[] = [];
  for (let i = 0; i < answers && offset + 10 <= packet.length; i++) {
    offset = skipName(packet, offset);
    const type = packet.readUInt16BE(offset);
    const length = packet.readUInt16BE(offset + 8);
    const data = packet.subarray(offset + 10, offset + 10 + length);
    if (type === 1 && length === 4) found.push([...data].join('.'));
    offset += 10 + length;
  }
  return found;
}

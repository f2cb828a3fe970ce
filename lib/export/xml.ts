// XML as libvirt reads it: elements with attributes and text, escaped, two spaces per level.

export interface Element {
  name: string;
  attrs?: Record<string, string | number | undefined>;
  children?: Array<Element | undefined | false>;
  text?: string;
}

/** An element; attributes whose value is undefined are left out, and so are children that are not elements. */
export const el = (name: string, attrs: Element['attrs'] = {}, ...children: Element['children'] & object): Element => ({
  name,
  attrs,
  children,
});

export const textEl = (name: string, text: string | number, attrs: Element['attrs'] = {}): Element => ({
  name,
  attrs,
  text: String(text),
});

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

export function renderXml(element: Element, depth = 0): string {
  const pad = '  '.repeat(depth);
  const attrs = Object.entries(element.attrs ?? {})
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}='${escape(String(value))}'`)
    .join('');
  const children = (element.children ?? []).filter((child): child is Element => Boolean(child));
  if (element.text !== undefined) return `${pad}<${element.name}${attrs}>${escape(element.text)}</${element.name}>\n`;
  if (children.length === 0) return `${pad}<${element.name}${attrs}/>\n`;
  const inner = children.map((child) => renderXml(child, depth + 1)).join('');
  return `${pad}<${element.name}${attrs}>\n${inner}${pad}</${element.name}>\n`;
}

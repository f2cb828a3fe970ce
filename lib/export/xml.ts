// XML as libvirt reads it: elements with attributes and text, escaped, two spaces per level.
import { UsageError } from '../base/errors.ts';

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

/**
 * Text as XML carries it: escaped. What XML cannot carry is refused, never written changed: a control character
 * (not XML at all), and in an attribute a tab or line break (a parser reads it as a space: another file).
 */
function escape(text: string, attribute: boolean): string {
  const bad = attribute ? /[\u0000-\u001f\ufffe\uffff]/ : /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;
  if (bad.test(text)) {
    const what = /[\t\n\r]/.test(text) ? 'a tab or line break' : 'a control character';
    throw new UsageError(`${JSON.stringify(text)} holds ${what}, which libvirt's XML cannot carry as it is`);
  }
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');
}

export function renderXml(element: Element, depth = 0): string {
  const pad = '  '.repeat(depth);
  const attrs = Object.entries(element.attrs ?? {})
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}='${escape(String(value), true)}'`)
    .join('');
  const children = (element.children ?? []).filter((child): child is Element => Boolean(child));
  if (element.text !== undefined)
    return `${pad}<${element.name}${attrs}>${escape(element.text, false)}</${element.name}>\n`;
  if (children.length === 0) return `${pad}<${element.name}${attrs}/>\n`;
  const inner = children.map((child) => renderXml(child, depth + 1)).join('');
  return `${pad}<${element.name}${attrs}>\n${inner}${pad}</${element.name}>\n`;
}

import { base64Length } from '../domain/invocation.js';
import { AppError, type ErrorCode } from './errors.js';

/** How a content field is checked: its name, its limit and the codes its faults answer. */
export interface ContentRules {
  field: string;
  encodingField: string;
  /** Limit once Base64-encoded, in bytes. */
  maxBase64Bytes: number;
  malformed: ErrorCode;
  tooLong: ErrorCode;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** 400 (rules.tooLong) when `bytes` are over the limit once Base64-encoded. */
export function checkContentLength(bytes: Buffer, rules: ContentRules, after = ''): void {
  const encodedLength = base64Length(bytes.length);
  if (encodedLength > rules.maxBase64Bytes) {
    throw new AppError(
      rules.tooLong,
      `${rules.field} is ${encodedLength} bytes once Base64-encoded${after}; the limit is ${rules.maxBase64Bytes}`,
    );
  }
}

/** The bytes a content field stands for, refused when malformed, empty or over its limit. */
export function decodeContent(
  text: string,
  encoding: 'PlainText' | 'Base64',
  rules: ContentRules,
): Buffer {
  let bytes: Buffer;
  if (encoding === 'Base64') {
    const compact = text.replace(/\s+/g, '');
    if (!BASE64_RE.test(compact)) {
      throw new AppError(
        rules.malformed,
        `${rules.field} is not valid Base64 (${rules.encodingField} is Base64)`,
      );
    }
    bytes = Buffer.from(compact, 'base64');
  } else {
    bytes = Buffer.from(text, 'utf8');
  }
  checkContentLength(bytes, rules);
  if (bytes.length === 0)
    throw new AppError('InvalidParameter', `${rules.field}: must not be empty`);
  return bytes;
}

/** Decoding a file's bytes to text with the file and line of the first undecodable byte on failure. */
import { TextDecoder } from 'node:util';

import { InputFileError } from '../../errors';
import type { CsvTokenizer } from './csvTokenizer';

/**
 * Decodes bytes that start at a record boundary on their own (`ignoreBOM`: a file's byte-order mark is
 * taken off before). Always through the streaming path: Node 20's one-shot `decode` of windows-1252 maps
 * 0x80–0x9F to C1 controls (as latin1) instead of the WHATWG table (0x8B → ‹), while the streaming path
 * uses the table; both modes of Prepare must read the same text.
 */
export function decodeWhole(
  bytes: Uint8Array,
  encoding: string,
  file: string,
  tokenizer: CsvTokenizer,
  /** False for an unterminated run of bytes, which may end inside a character: that is not an error. */
  complete = true,
): string {
  const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  const text = decodeOrFail(decoder, bytes, encoding, file, tokenizer);
  if (!complete) return text;
  // A chunk that ends inside a character fails here, with its line.
  return text + decodeOrFail(decoder, undefined, encoding, file, tokenizer, text);
}

/**
 * `decoder.decode(bytes, { stream: true })` (`undefined` flushes the decoder), failing with the file and
 * the line of the first undecodable byte instead of the decoder's bare TypeError.
 */
export function decodeOrFail(
  decoder: TextDecoder,
  bytes: Uint8Array | undefined,
  encoding: string,
  file: string,
  tokenizer: CsvTokenizer,
  /** Text decoded before `bytes` that the tokenizer has not seen yet (for the line of an error). */
  before = '',
): string {
  try {
    return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode();
  } catch (error) {
    // Locate the bad bytes: decode leniently and count the lines before the first replacement character.
    const lenient = bytes ? new TextDecoder(encoding).decode(bytes) : '';
    const bad = lenient.indexOf('\ufffd');
    throw new InputFileError(
      file,
      `is not valid ${encoding} text (check the file's encoding setting; or it is not a CSV file)`,
      { line: tokenizer.lineAfter(before + (bad === -1 ? '' : lenient.slice(0, bad))), cause: error },
    );
  }
}

/**
 * Splits a byte stream into lines without unbounded buffering: a line longer than the cap
 * is dropped (its size reported) instead of growing a buffer until the runner runs out of
 * memory. Works on bytes, so a multi-byte character split across chunks stays intact.
 */
export class LineSplitter {
  readonly #max: number;
  readonly #onLine: (line: string) => void;
  readonly #onOversize: (bytes: number) => void;
  #parts: Buffer[] = [];
  #size = 0;
  /** Bytes of the current line seen after it went over the cap; -1 when not skipping. */
  #skipped = -1;

  constructor(maxLineBytes: number, onLine: (line: string) => void, onOversize: (bytes: number) => void) {
    this.#max = maxLineBytes;
    this.#onLine = onLine;
    this.#onOversize = onOversize;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        this.#append(chunk.subarray(start));
        return;
      }
      this.#append(chunk.subarray(start, nl));
      this.#emit();
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without a trailing newline still counts. */
  end(): void {
    if (this.#size > 0 || this.#skipped >= 0) this.#emit();
  }

  #append(bytes: Buffer): void {
    if (!bytes.length) return;
    if (this.#skipped >= 0) {
      this.#skipped += bytes.length;
    } else if (this.#size + bytes.length > this.#max) {
      this.#skipped = this.#size + bytes.length;
      this.#parts = [];
      this.#size = 0;
    } else {
      // Copy: the caller may reuse its chunk buffer.
      this.#parts.push(Buffer.from(bytes));
      this.#size += bytes.length;
    }
  }

  #emit(): void {
    if (this.#skipped >= 0) {
      const skipped = this.#skipped;
      this.#skipped = -1;
      this.#onOversize(skipped);
      return;
    }
    const line = Buffer.concat(this.#parts, this.#size).toString("utf8");
    this.#parts = [];
    this.#size = 0;
    this.#onLine(line);
  }
}

/**
 * Labelled form controls with the API's field errors beside them. Every control has a `<label for>`; an
 * error or hint is tied to its control with `aria-describedby`, and a control in error has `aria-invalid`.
 */
import type { ComponentChildren } from 'preact';

import { ApiError, type ErrorDetail } from './api';

/**
 * The API's field errors of one form, by path without the `body.` prefix (`mapping.email`). `take` marks a
 * path shown next to its field; `rest` is what no field showed (for the form's summary, rendered last).
 */
export class FieldErrors {
  private readonly byPath = new Map<string, string>();
  private readonly shown = new Set<string>();

  constructor(readonly error: unknown) {
    if (error instanceof ApiError) {
      for (const detail of error.details) {
        const path = detail.path.replace(/^body\./, '');
        if (!this.byPath.has(path)) this.byPath.set(path, detail.message);
      }
    }
  }

  /** The message for `path` (or, with `prefix`, the first under it), marked as shown. */
  take(path: string, prefix = false): string | undefined {
    for (const [p, message] of this.byPath) {
      if (p === path || (prefix && p.startsWith(`${path}.`))) {
        this.shown.add(p);
        return message;
      }
    }
    return undefined;
  }

  /** The details no field showed. */
  rest(): ErrorDetail[] {
    return [...this.byPath].filter(([p]) => !this.shown.has(p)).map(([path, message]) => ({ path, message }));
  }
}

function describedBy(...ids: (string | false | undefined)[]): string | undefined {
  const list = ids.filter(Boolean).join(' ');
  return list || undefined;
}

interface TextFieldProps {
  id: string;
  label: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | undefined;
  hint?: string;
  type?: 'text' | 'password';
  required?: boolean;
  autoComplete?: string;
  inputMode?: 'numeric' | 'text';
  autoFocus?: boolean;
}

/** A text input with its label, an optional hint and the API's error for it. */
export function TextField(props: TextFieldProps) {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  const errorId = props.error ? `${props.id}-error` : undefined;
  return (
    <div class="field">
      <label for={props.id}>
        {props.label}
        {props.required ? <span aria-hidden="true"> *</span> : null}
      </label>
      <input
        id={props.id}
        name={props.id}
        {...(props.type === 'password' ? { type: 'password' as const } : { type: 'text' as const })}
        value={props.value}
        required={props.required}
        autoComplete={props.autoComplete ?? 'off'}
        inputMode={props.inputMode}
        autoFocus={props.autoFocus}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy(hintId, errorId)}
        onInput={(event) => props.onValue(event.currentTarget.value)}
      />
      {props.hint ? (
        <small id={hintId} class="hint">
          {props.hint}
        </small>
      ) : null}
      {props.error ? (
        <p id={errorId} class="field-error">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** A checkbox with its label (after the box) and the API's error for it. */
export function CheckboxField(props: {
  id: string;
  label: string;
  checked: boolean;
  onChecked: (checked: boolean) => void;
  error?: string | undefined;
}) {
  const errorId = props.error ? `${props.id}-error` : undefined;
  return (
    <div class="check">
      <input
        id={props.id}
        name={props.id}
        type="checkbox"
        checked={props.checked}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={errorId}
        onChange={(event) => props.onChecked(event.currentTarget.checked)}
      />
      <label for={props.id}>{props.label}</label>
      {props.error ? (
        <p id={errorId} class="field-error">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** A select with its label and the API's error for it. */
export function SelectField(props: {
  id: string;
  label: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | undefined;
  children: ComponentChildren;
}) {
  const errorId = props.error ? `${props.id}-error` : undefined;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select
        id={props.id}
        name={props.id}
        value={props.value}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={errorId}
        onChange={(event) => props.onValue(event.currentTarget.value)}
      >
        {props.children}
      </select>
      {props.error ? (
        <p id={errorId} class="field-error">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** The form's summary: the API's message and the details no field showed (render it after the fields). */
export function FormErrors({ errors }: { errors: FieldErrors }) {
  if (!errors.error) return null;
  const message = errors.error instanceof Error ? errors.error.message : 'The request failed';
  const rest = errors.rest();
  return (
    <div class="form-errors" role="alert">
      <p>{message}</p>
      {rest.length ? (
        <ul>
          {rest.map((d) => (
            <li key={d.path}>
              {d.path ? `${d.path}: ` : ''}
              {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A time for people: the browser's locale, or "—". */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A duration for people: "850 ms", "12 s", "3 min 5 s", "2 h 4 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

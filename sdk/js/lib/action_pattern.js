// Action-name patterns (the Rust SDK's sdk/src/action_pattern.rs): an
// exact name, `*` for every action, or a prefix wildcard such as
// `delete_*`, matched with ASCII case folded. A pattern is an action
// name, optionally ending in `*`: one holding a character no action can
// hold could never match, so it is refused.

import { ConfigError } from './config.js';
import { identifierKey, identifierProblem } from './identifier.js';

export class ActionPattern {
  /** Use `ActionPattern.parse`. */
  constructor(kind, body) {
    this.kind = kind; // 'any' | 'prefix' | 'exact'
    this.body = body;
    this.key = identifierKey(body);
    Object.freeze(this);
  }

  /**
   * Parse a pattern. Only a trailing `*` is a wildcard. Throws an Error
   * with the Rust SDK's text.
   */
  static parse(text) {
    if (typeof text !== 'string' || text.length === 0) {
      throw new Error('an action pattern must not be empty');
    }
    const wildcard = text.endsWith('*');
    const body = wildcard ? text.slice(0, -1) : text;
    if (body.includes('*')) {
      throw new Error(`action pattern \`${text}\`: \`*\` is allowed only at the end`);
    }
    if (body.length > 0) {
      const problem = identifierProblem(body);
      if (problem !== null) {
        throw new Error(
          `an action pattern is an action name, optionally ending in \`*\`: ${problem}`,
        );
      }
    }
    if (body.length === 0) return new ActionPattern('any', '');
    return new ActionPattern(wildcard ? 'prefix' : 'exact', body);
  }

  /**
   * Parse a list of patterns from config key `key`; throws a ConfigError
   * naming `key[index]`, as `ActionPattern::parse_list` does.
   */
  static parseList(key, texts) {
    return texts.map((text, index) => {
      try {
        return ActionPattern.parse(text);
      } catch (e) {
        throw ConfigError.key(`${key}[${index}]`, e.message);
      }
    });
  }

  /** Whether `action` matches, ASCII case folded. */
  matches(action) {
    return this.matchesKey(identifierKey(action));
  }

  /** Whether the action whose `identifierKey` is `key` matches. */
  matchesKey(key) {
    switch (this.kind) {
      case 'any':
        return true;
      case 'prefix':
        return key.startsWith(this.key);
      default:
        return key === this.key;
    }
  }

  /** Whether any of `patterns` matches `action`. */
  static anyMatches(patterns, action) {
    if (patterns.length === 0) return false;
    const key = identifierKey(action);
    // A plain loop: a callback per pattern costs fuel in the component.
    for (let i = 0; i < patterns.length; i++) {
      if (patterns[i].matchesKey(key)) return true;
    }
    return false;
  }

  /**
   * The interest of a policy judging exactly the actions matching
   * `patterns`: the patterns as text, or null when one of them is `*`.
   */
  static interest(patterns) {
    if (patterns.some((p) => p.kind === 'any')) return null;
    return patterns.map((p) => p.toString());
  }

  /** The pattern as written: `*`, `prefix*` or the name. */
  toString() {
    if (this.kind === 'any') return '*';
    return this.kind === 'prefix' ? `${this.body}*` : this.body;
  }
}

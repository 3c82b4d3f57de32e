// {{name}}: a Gavel policy in JavaScript, on the helper module
// `gavel-policy` ({{gavel_root}}/sdk/js).
//
// - an action whose name starts with `delete_` (ASCII case folded) is
//   denied (`destructive-action`);
// - else an amount above `review_above` (default 500) is escalated to a
//   human (`large-amount`);
// - else the action is approved.
//
// Config keys (`[policy.config]` in policies.toml): `review_above`, a
// number >= 0. Any other key is refused at load time, naming it.

import {
  ActionPattern,
  ConfigError,
  approve,
  deny,
  escalate,
  exportPolicy,
  field,
} from 'gavel-policy';

const DESTRUCTIVE = ActionPattern.parse('delete_*');

export const definition = {
  metadata: {
    name: '{{name}}',
    version: '0.1.0',
    description: 'Denies deleting data; escalates amounts above review_above.',
  },

  // The config's keys and types; unknown keys are refused.
  config: {
    review_above: field.number({ default: 500 }),
  },

  // Check what the config means; a ConfigError names the key at fault.
  create(config) {
    const reviewAbove = config.review_above;
    if (!Number.isFinite(reviewAbove) || reviewAbove < 0) {
      throw ConfigError.key('review_above', 'must be a number >= 0');
    }
    return {
      // No `interest()`: the amount rule applies to every action.
      evaluate(request) {
        const action = request.action;
        if (DESTRUCTIVE.matches(action)) {
          return deny('destructive-action', `action \`${action}\` deletes data`);
        }
        if (request.amount !== null && request.amount > reviewAbove) {
          return escalate('large-amount', `amount ${request.amount} is above ${reviewAbove}`);
        }
        return approve();
      },
    };
  },
};

// The component's export (the WIT world `gavel:policy/policy-world`).
export const policy = exportPolicy(definition);

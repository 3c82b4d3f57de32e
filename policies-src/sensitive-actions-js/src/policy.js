// `sensitive-actions`, in JavaScript: the same rules, messages and config
// errors as the Rust policy in `policies-src/sensitive-actions`.
//
// - an action matching `forbidden` -> deny `forbidden-action`;
// - else, if `allowed` is set and the action matches none of it -> deny
//   `action-not-allowed`;
// - else an action matching `require_approval` -> escalate
//   `approval-required`;
// - else approve.
//
// Entries are action names; a trailing `*` is a prefix wildcard; names
// match with ASCII case folded.

import { ActionPattern, approve, deny, escalate, exportPolicy, field } from 'gavel-policy';

export const sensitiveActions = {
  metadata: {
    name: 'sensitive-actions',
    version: '1.0.0',
    description:
      'Denies forbidden actions, escalates actions that need approval, optionally allows only a list.',
  },

  // The Rust `Config` struct, in its declaration order.
  config: {
    forbidden: field.list(),
    require_approval: field.list(),
    allowed: field.optional(field.list()),
  },

  create(config) {
    const forbidden = ActionPattern.parseList('forbidden', config.forbidden);
    const requireApproval = ActionPattern.parseList('require_approval', config.require_approval);
    const allowed =
      config.allowed === null ? null : ActionPattern.parseList('allowed', config.allowed);
    return {
      // Every action when `allowed` is set: an action off it is denied.
      interest() {
        if (allowed !== null) return null;
        return ActionPattern.interest([...forbidden, ...requireApproval]);
      },

      evaluate(request) {
        const action = request.action;
        if (ActionPattern.anyMatches(forbidden, action)) {
          return deny('forbidden-action', `action \`${action}\` is forbidden`);
        }
        if (allowed !== null && !ActionPattern.anyMatches(allowed, action)) {
          return deny('action-not-allowed', `action \`${action}\` is not on the allowed list`);
        }
        if (ActionPattern.anyMatches(requireApproval, action)) {
          return escalate('approval-required', `action \`${action}\` requires human approval`);
        }
        return approve();
      },
    };
  },
};

export const policy = exportPolicy(sensitiveActions);

"""The codes the segmentation gives each row and session (README, "The rules"): billing
classes, reasons, session origins and close reasons, and the columns of carried-in and end
states. No compiled code here: importing these costs nothing."""

from __future__ import annotations

# Billing classes of a loaded row (``Segmentation.billing``).
SESSION, OUT_OF_SESSION, DUPLICATE, EXCLUDED, BEFORE_CUT = 0, 1, 2, 3, 4
BILLING_NAMES = ("session", "out_of_session", "duplicate", "excluded", "before_cut")
# Reasons (``Segmentation.reason``).
R_NONE, R_NO_SESSION, R_TYPE_NOT_ALLOWED, R_ONE_SIDED, R_DUPLICATE, R_EXCLUDED, R_SESSIONS_DISABLED, R_BEFORE_CUT = range(8)
REASON_NAMES = ("", "no_session", "type_not_allowed", "one_sided", "duplicate", "excluded_status",
                "sessions_disabled", "before_cut")
# Session origins and close reasons.
O_SUBSCRIBER, O_ROLLOVER = 0, 1
ORIGIN_NAMES = ("subscriber", "rollover")
C_OPEN, C_EXPIRED, C_MESSAGE_LIMIT, C_UNANSWERED_LIMIT = range(4)
CLOSE_NAMES = ("open", "expired", "message_limit", "unanswered_limit")

#: Columns of a carried-in state per conversation (:func:`run_pass`'s ``carry``), and of the end
#: state per conversation the pass gives back (``want_end``).
CARRY_COLUMNS = ("conversation", "start", "origin", "business_messages", "unanswered", "inbound", "outbound")
END_COLUMNS = ("business", "subscriber", "session", "business_messages", "unanswered")

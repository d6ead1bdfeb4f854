// Every error code of vod-ugc-upload by name: `err.code === codes.SIGNATURE_INVALID`.
// `cargo test` checks this list against the Rust definitions (CODE_NAMES in
// src/error.rs), so names and values cannot drift from what the module raises.
export const codes = Object.freeze({
  // The server's codes.
  COMMON_PARAMS_INVALID: -10001,
  SIGNATURE_INVALID: -10002,
  PROTOCOL_PARAMS_INVALID: -10003,
  STATE_WRITE_FAILED: -10004,
  STATE_READ_FAILED: -10005,
  PART_BODY_INVALID: -10006,
  // The client's codes.
  BAD_INPUT: -20001,
  SIGNATURE_FAILED: -20002,
  NETWORK_FAILED: -20003,
  TIMED_OUT: -20004,
  BAD_ANSWER: -20005,
  FILE_UNREADABLE: -20006,
  LOAD_FAILED: -20007,
});

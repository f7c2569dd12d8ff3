/** Capsule runtime settings. Owned by lib/capsules. */
export const capsules = {}

/** Object storage settings. Owned by lib/storage. */
export const storage = {}

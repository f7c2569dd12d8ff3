/** Tables owned by lib/core (none besides the migrations ledger, which kysely never touches). */
export interface CoreTables {}

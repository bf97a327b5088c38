// What PostgreSQL's SQLSTATE codes mean, so layers above the store never compare code literals.

/** SQLSTATE 23505 unique_violation: a row with the same key already exists. */
const UNIQUE_VIOLATION = '23505';
/** SQLSTATE 23503 foreign_key_violation: the referenced row does not exist (or is still referenced). */
const FOREIGN_KEY_VIOLATION = '23503';

function sqlstate(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True when `error` is the database refusing a duplicate key (SQLSTATE 23505), from either driver.
 *
 * @example
 * try { await db.query('insert into app.users (id) values ($1)', [id]); }
 * catch (error) { if (!isUniqueViolation(error)) throw error; } // already there: fine
 */
export function isUniqueViolation(error: unknown): boolean {
  return sqlstate(error) === UNIQUE_VIOLATION;
}

/**
 * True when `error` is the database refusing a reference to a missing row (SQLSTATE 23503),
 * from either driver.
 *
 * @example
 * try { await db.query('insert into app.orders (user_id) values ($1)', [userId]); }
 * catch (error) { if (isForeignKeyViolation(error)) throw new Error(`no user ${userId}`); throw error; }
 */
export function isForeignKeyViolation(error: unknown): boolean {
  return sqlstate(error) === FOREIGN_KEY_VIOLATION;
}

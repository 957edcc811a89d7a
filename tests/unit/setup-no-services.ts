/**
 * The unit tier runs without PostgreSQL, Redis or an SMTP server: every address a test could
 * reach them by points at port 1 on loopback, where nothing listens, so a unit test that
 * reaches for a service fails at once instead of passing on a developer's machine.
 */
process.env.DATABASE_URL = 'postgres://postgres@127.0.0.1:1/unit';
process.env.TEST_DATABASE_SERVER = 'postgres://postgres@127.0.0.1:1';
process.env.REDIS_URL = 'redis://127.0.0.1:1';
process.env.SMTP_URL = 'smtp://127.0.0.1:1';

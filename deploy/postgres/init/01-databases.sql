-- Local development only (docker-compose.yml): one PostgreSQL server, one database per service,
-- each owned by its own login role, as in production where every service has its own database
-- and credentials. The passwords below are DEVELOPMENT-ONLY placeholders, known to anyone who
-- reads this file: never reuse them on a reachable server. Production credentials come from
-- the <service>-db secrets (DATABASE_URL) and are never committed.
--
-- The postgres image runs this file once, when it initialises an empty data volume
-- (`docker compose down -v` to start over). Each role owns its database, and so its `public`
-- schema (PostgreSQL 15+: owned by pg_database_owner), which is all the migrations need: they
-- create tables, functions and triggers, no extensions. The services apply them at start.

CREATE ROLE auth   LOGIN PASSWORD 'auth-dev-password';
CREATE ROLE users  LOGIN PASSWORD 'users-dev-password';
CREATE ROLE movies LOGIN PASSWORD 'movies-dev-password';
CREATE ROLE chat   LOGIN PASSWORD 'chat-dev-password';

CREATE DATABASE marquee_auth   OWNER auth;
CREATE DATABASE marquee_users  OWNER users;
CREATE DATABASE marquee_movies OWNER movies;
CREATE DATABASE marquee_chat   OWNER chat;

-- Nobody but the owner (and superusers) may connect to a service's database.
REVOKE ALL ON DATABASE marquee_auth   FROM PUBLIC;
REVOKE ALL ON DATABASE marquee_users  FROM PUBLIC;
REVOKE ALL ON DATABASE marquee_movies FROM PUBLIC;
REVOKE ALL ON DATABASE marquee_chat   FROM PUBLIC;

DROP TABLE profile_tombstones;
DROP INDEX profiles_display_name_prefix;
DROP INDEX profiles_email_prefix;

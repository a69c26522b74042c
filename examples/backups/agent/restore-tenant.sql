-- Restores one tenant's rows from the scratch database :scratch into the live one, in one transaction.
-- Every table with a tenant_id column is restored; other tables are left as they are.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS dblink;
BEGIN;
SELECT format('DELETE FROM %I.%I WHERE tenant_id = %L', table_schema, table_name, :'tenant')
  FROM information_schema.columns WHERE column_name = 'tenant_id' AND table_schema = 'public' \gexec
SELECT format(
         'INSERT INTO %I.%I SELECT * FROM dblink(%L, %L) AS t(%s)',
         c.table_schema, c.table_name, 'dbname=' || :'scratch',
         format('SELECT * FROM %I.%I WHERE tenant_id = %L', c.table_schema, c.table_name, :'tenant'),
         (SELECT string_agg(format('%I %s', column_name, data_type), ', ' ORDER BY ordinal_position)
            FROM information_schema.columns WHERE table_schema = c.table_schema AND table_name = c.table_name))
  FROM information_schema.columns c WHERE c.column_name = 'tenant_id' AND c.table_schema = 'public' \gexec
COMMIT;

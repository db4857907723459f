-- PostgreSQL's 00036 leaves room on the missions table's pages for its
-- rows' updates (fillfactor). SQLite updates rows in place: nothing to do.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;

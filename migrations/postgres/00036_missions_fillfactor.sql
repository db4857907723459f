-- A mission's row is rewritten by every decision that has effects (its
-- version, compare-and-swap; issue 12). With full pages the new version
-- of the row found no room on its page a third of the time, and then
-- wrote an entry into each of the table's six indexes (a HOT update
-- writes none). Room left on each page keeps those updates on the page.
-- It applies to pages written from now on.

-- +goose Up
ALTER TABLE missions SET (fillfactor = 70);

-- +goose Down
ALTER TABLE missions RESET (fillfactor);

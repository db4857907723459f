-- The mission a revocation cascade belongs to (design §5 "Revocation
-- propagation", §7): a cascade a mission's lifecycle transition started
-- names the mission, so that each of its deliveries' terminal outcomes is
-- evidenced (revocation_result) on that mission's chain, in the
-- transaction that stores it. '' for the other cascades (an agent
-- provider's or a person's revocation of an agent), which write no
-- evidence.

-- +goose Up
ALTER TABLE revocation_cascades ADD COLUMN mission_s256 TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE revocation_cascades DROP COLUMN mission_s256;

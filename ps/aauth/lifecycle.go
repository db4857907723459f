package aauth

// ErrInvalidTransition (409, IMPL, mission control): the mission's
// lifecycle does not allow the change now — suspending a mission that is
// not active, resuming one that is not suspended, changing one that ended.
const ErrInvalidTransition = "invalid_transition"

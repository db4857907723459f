package server

// PathPermission is the permission endpoint (E7), served by
// tokenHandler: its flow answers 200, 202 or an error as a token
// endpoint does.
const PathPermission = "/permission"

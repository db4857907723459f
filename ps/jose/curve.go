package jose

import "crypto/elliptic"

func elliptic256() elliptic.Curve { return elliptic.P256() }

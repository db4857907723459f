package tokens

// Token is the presigned token, for the tests to compare with what was
// issued.
func (p *Presigned) Token() string { return p.token }

// NewJTI is the jti the PS gives a token issued at an instant.
var NewJTI = newJTI

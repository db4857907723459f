package tokens

// Token is the presigned token, for the tests to compare with what was
// issued.
func (p *Presigned) Token() string { return p.token }

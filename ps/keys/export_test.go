package keys

// SignedHereSize is the bound of the tokens a Manager remembers signing.
const SignedHereSize = signedHereSize

package interact

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Resources describes resources from their own metadata documents
// ({resource}/.well-known/aauth-resource.json), fetched under the egress
// policy and cached by discovery. A resource that publishes none is shown
// by its identifier only (P§resource-metadata: metadata is optional).
type Resources struct{ Discovery Discovery }

// Describe returns what the resource says about itself.
func (r Resources) Describe(ctx context.Context, resource string) ResourceInfo {
	info := ResourceInfo{Issuer: resource}
	md, err := r.Discovery.Metadata(ctx, resource, aauth.DWKResource)
	if err != nil {
		info.Unavailable = true
		return info
	}
	info.Name, _ = md["name"].(string)
	info.Description, _ = md["description"].(string)
	info.AccessMode, _ = md["access_mode"].(string)
	if logo, ok := md["logo_uri"].(string); ok && len(logo) < 2048 && len(logo) > 8 && logo[:8] == "https://" {
		info.LogoURI = logo
	}
	if info.AccessMode == "" {
		info.AccessMode = "agent-token"
	}
	return info
}

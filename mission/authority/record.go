package authority

// DecisionRecord is the body of a runtime_decision evidence record
// (design §7): what was asked, by whom, how each item was evaluated, and
// the outcome, with the mission and catalog versions it was decided on.
type DecisionRecord struct {
	ID             string        `json:"id"`
	Point          Point         `json:"point"`
	Mode           Mode          `json:"mode"`
	MissionVersion int64         `json:"mission_version"`
	CatalogVersion string        `json:"catalog_version,omitempty"`
	Request        RecordRequest `json:"request"`
	Actor          RecordActor   `json:"actor"`
	Items          []ItemOutcome `json:"items"`
	Outcome        RecordOutcome `json:"outcome"`
	Effects        Effects       `json:"effects"`
	Explanation    string        `json:"explanation"`
	Resolves       string        `json:"resolves,omitempty"`
	// Input is everything Evaluate read, for replay (Replay); records
	// written before issue 10's replay have none.
	Input *ReplayInput `json:"input,omitempty"`
}

// RecordRequest is the request as the record keeps it.
type RecordRequest struct {
	Resource         string `json:"resource,omitempty"`
	ResourceTokenJTI string `json:"resource_token_jti,omitempty"`
	PerCall          bool   `json:"per_call"`
	Action           string `json:"action,omitempty"`
}

// RecordActor is the actor as the record keeps it.
type RecordActor struct {
	Agent  string  `json:"agent"`
	Parent *string `json:"parent"`
	Depth  int     `json:"depth"`
}

// RecordOutcome is the outcome as the record keeps it.
type RecordOutcome struct {
	Kind        Outcome `json:"kind"`
	Status      int     `json:"status"`
	Error       string  `json:"error,omitempty"`
	Requirement string  `json:"requirement,omitempty"`
	Reason      string  `json:"reason"`
}

// Record builds the decision's evidence body. id is the decision id (also
// the mission_decision id); resolves names the deferred decision this one
// closes, if any.
func (d *Decision) Record(id, resourceTokenJTI, resolves string, in Input) DecisionRecord {
	r := DecisionRecord{ID: id, Point: in.Point, Mode: in.Mode, MissionVersion: d.MissionVersion, CatalogVersion: d.CatalogVersion,
		Request: RecordRequest{Resource: in.Request.Resource, ResourceTokenJTI: resourceTokenJTI, PerCall: in.Request.PerCall, Action: in.Request.Action},
		Actor:   RecordActor{Agent: in.Actor.Agent},
		Items:   d.Items, Effects: d.Effects, Explanation: d.Explanation, Resolves: resolves,
		Outcome: RecordOutcome{Kind: d.Outcome, Status: d.Status, Error: d.Error, Requirement: d.Requirement, Reason: d.Reason}}
	if in.Actor.Parent != "" {
		p := in.Actor.Parent
		r.Actor.Parent = &p
	}
	if in.Actor.Chain != nil {
		r.Actor.Depth = in.Actor.Chain.UpstreamDepth + 1
	}
	if r.Items == nil {
		r.Items = []ItemOutcome{}
	}
	return r
}

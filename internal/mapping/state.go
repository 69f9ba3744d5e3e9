package mapping

import "fmt"

// The state machine, as Lambda (reference §2):
//
//	Create            → Creating → Enabled | Disabled (by Enabled)
//	Update Enabled=t  → Enabling → Enabled     (from Disabled)
//	Update Enabled=f  → Disabling → Disabled   (from Enabled)
//	other Update      → Updating → Enabled | Disabled
//	Delete            → Deleting → gone
//
// The API moves a mapping into a transitional state; the server's reconciler settles it once
// the pollers have applied the change (Settled).

// InUseError is ResourceInUseException: the mapping is in a state that forbids the request.
type InUseError struct{ Message string }

func (e *InUseError) Error() string { return e.Message }

// CanUpdate reports whether UpdateEventSourceMapping is allowed now. Lambda refuses an update
// while the mapping is being created, updated or deleted.
func (m *EventSourceMapping) CanUpdate() error {
	switch m.State {
	case StateCreating, StateUpdating, StateDeleting, StateEnabling, StateDisabling:
		return &InUseError{Message: fmt.Sprintf("Cannot update the event source mapping %s because it is in use (state %s). Try again later.", m.UUID, m.State)}
	}
	return nil
}

// CanDelete reports whether DeleteEventSourceMapping is allowed now (not while Updating or
// already Deleting).
func (m *EventSourceMapping) CanDelete() error {
	switch m.State {
	case StateUpdating, StateDeleting:
		return &InUseError{Message: fmt.Sprintf("Cannot delete the event source mapping %s because it is in use (state %s). Try again later.", m.UUID, m.State)}
	}
	return nil
}

func transitionState(wasEnabled, enabled bool) string {
	switch {
	case !wasEnabled && enabled:
		return StateEnabling
	case wasEnabled && !enabled:
		return StateDisabling
	}
	return StateUpdating
}

// Transitional reports whether the reconciler still has work on the mapping.
func (m *EventSourceMapping) Transitional() bool {
	switch m.State {
	case StateCreating, StateEnabling, StateDisabling, StateUpdating, StateDeleting:
		return true
	}
	return false
}

// Settled is the state the mapping rests in once its transitional state is done: Enabled or
// Disabled by the user's wish. (Deleting has no settled state: the mapping is removed.)
func (m *EventSourceMapping) Settled() string {
	if m.Enabled {
		return StateEnabled
	}
	return StateDisabled
}

package account_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// TestDatabaseErrorsAreClassified: what the account service passes on from
// its store is a dberr kind whose message names no SQL (the classification
// moved with the SQL into ps/store).
func TestDatabaseErrorsAreClassified(t *testing.T) {
	t.Parallel()
	e := store.Wrap("op", errors.New(`pq: relation "persons" SELECT secret`))
	assert.ErrorIs(t, e, dberr.ErrDatabase)
	assert.NotContains(t, e.Error(), "SELECT")
	assert.Nil(t, store.Wrap("op", nil))
}

package pending

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func received(ch <-chan struct{}, within time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

func TestMemoryNotifier(t *testing.T) {
	m := NewMemoryNotifier()
	a1, cancelA1 := m.Subscribe("a")
	a2, cancelA2 := m.Subscribe("a")
	b, cancelB := m.Subscribe("b")
	defer cancelB()
	require.Equal(t, 3, m.Subscribers())

	require.NoError(t, m.Publish(context.Background(), "a"))
	require.NoError(t, m.Publish(context.Background(), "a")) // coalesces, never blocks
	assert.True(t, received(a1, 0))
	assert.True(t, received(a2, 0))
	assert.False(t, received(a1, 10*time.Millisecond), "two wake-ups coalesced into one")
	assert.False(t, received(b, 10*time.Millisecond))

	cancelA1()
	cancelA1() // idempotent
	require.NoError(t, m.Publish(context.Background(), "a"))
	assert.False(t, received(a1, 10*time.Millisecond))
	assert.True(t, received(a2, 0))
	cancelA2()
	assert.Equal(t, 1, m.Subscribers())
	require.NoError(t, m.Publish(context.Background(), "nobody"))

	m.WakeAll()
	assert.True(t, received(b, 0))
}

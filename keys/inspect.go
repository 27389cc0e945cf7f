package keys

import "context"

// ListStored describes the keys in cfg.Store as Manager.List does, without
// a Manager: it loads, decrypts, generates and changes nothing, so it needs
// no key-encryption key. Management commands that only list keys use it on
// a database no server runs on. cfg's timing fields give NextRotation.
func ListStored(ctx context.Context, cfg Config) ([]Info, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{cfg: cfg, store: cfg.Store, log: cfg.Logger}
	return m.List(ctx)
}

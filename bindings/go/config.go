package doppel

// #include <stdlib.h>
// #include "doppel.h"
import "C"

import "runtime"

// Config is a training configuration. It is immutable and safe for concurrent use; release
// it with Close.
type Config struct {
	h handle[C.DoppelConfig]
}

// DefaultConfig is the default training configuration.
func DefaultConfig() (*Config, error) {
	var out *C.DoppelConfig
	if err := call(func() C.enum_DoppelStatus { return C.doppel_config_default(&out) }); err != nil {
		return nil, err
	}
	return newConfig(out), nil
}

// ConfigFromJSON parses and validates a configuration with the keys of the CLI's
// configuration file (every key optional). An unknown key or bad value is an
// ErrInvalidConfig whose message names the key.
func ConfigFromJSON(json string) (*Config, error) {
	text, err := cString("json", json)
	if err != nil {
		return nil, err
	}
	defer freeCString(text)
	var out *C.DoppelConfig
	if err := call(func() C.enum_DoppelStatus { return C.doppel_config_from_json(text, &out) }); err != nil {
		return nil, err
	}
	return newConfig(out), nil
}

// newConfig wraps a fresh library pointer; the finalizer frees it if Close is never called.
func newConfig(ptr *C.DoppelConfig) *Config {
	c := &Config{}
	c.h.ptr = ptr
	runtime.SetFinalizer(c, (*Config).Close)
	return c
}

// use runs f with the live pointer; a nil or closed Config gives an ErrClosed error.
func (c *Config) use(method string, f func(*C.DoppelConfig) error) error {
	if c == nil {
		return closedError(method)
	}
	err := c.h.use(method, f)
	runtime.KeepAlive(c)
	return err
}

// Close releases the configuration. It returns at once, also from a progress function; a
// training that uses the configuration keeps it until it ends. Later uses return an error
// wrapping ErrClosed; closing again does nothing.
func (c *Config) Close() error {
	if c == nil {
		return nil
	}
	c.h.release(func(p *C.DoppelConfig) { C.doppel_config_free(p) })
	runtime.SetFinalizer(c, nil)
	return nil
}

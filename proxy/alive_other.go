//go:build !unix

package proxy

import "net"

// alive cannot peek without the Unix socket calls: every idle connection
// is taken as alive, and a request that cannot be retried may fail when
// the upstream had closed it.
func alive(net.Conn) bool { return true }

func isConnReset(error) bool { return false }

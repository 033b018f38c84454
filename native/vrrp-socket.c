// A passive VRRP listener for Node: a raw socket for IP protocol 112 bound to one interface, polled
// on Node's own event loop, each datagram handed to a JavaScript callback with where it came from.
//
// Node-API only (plus libuv's uv_poll, whose ABI is stable across libuv 1.x), so one build loads in
// every Node release the product runs (Node 20 and the packaged Node 24) without a rebuild.
//
// open(ifname, family, onPacket) -> close()
//   family 4: onPacket(packet, source, destination, ifindex, ttl) with the whole IPv4 packet (the
//             kernel gives raw IPv4 sockets the IP header: the parser checks it, TTL included);
//   family 6: onPacket(payload, source, destination, ifindex, hopLimit) with the VRRP payload (the
//             kernel strips IPv6 headers; hop limit and destination come from ancillary data).
// Throws with the errno text when the socket cannot be had (EPERM without CAP_NET_RAW, ENODEV).
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <node_api.h>

#define IPPROTO_VRRP 112
#define MAX_DATAGRAM 65536
// Datagrams read per readiness callback: a flood cannot hold the event loop for long.
#define MAX_BATCH 64

typedef struct Listener {
  uv_poll_t poll;
  int fd;
  int family;
  int closed;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  unsigned char *buffer;
} Listener;

static void free_listener(uv_handle_t *handle) {
  Listener *l = (Listener *)handle->data;
  if (l->fd >= 0) close(l->fd);
  free(l->buffer);
  free(l);
}

static void cleanup_hook(void *arg);

// Stops polling and releases the JavaScript references; the memory goes once libuv lets go of the handle.
static void shut(Listener *l, int from_cleanup) {
  if (l->closed) return;
  l->closed = 1;
  uv_poll_stop(&l->poll);
  if (!from_cleanup) napi_remove_env_cleanup_hook(l->env, cleanup_hook, l);
  napi_delete_reference(l->env, l->callback);
  napi_async_destroy(l->env, l->async);
  uv_close((uv_handle_t *)&l->poll, free_listener);
}


static void cleanup_hook(void *arg) { shut((Listener *)arg, 1); }

static napi_value str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value num(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

static void deliver(Listener *l, ssize_t len, struct sockaddr_storage *from, struct msghdr *msg) {
  char source[INET6_ADDRSTRLEN] = "", destination[INET6_ADDRSTRLEN] = "";
  int ifindex = 0, ttl = -1;
  if (l->family == 4) inet_ntop(AF_INET, &((struct sockaddr_in *)from)->sin_addr, source, sizeof source);
  else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)from)->sin6_addr, source, sizeof source);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      ifindex = info.ipi_ifindex;
      inet_ntop(AF_INET, &info.ipi_addr, destination, sizeof destination);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      ifindex = info.ipi6_ifindex;
      inet_ntop(AF_INET6, &info.ipi6_addr, destination, sizeof destination);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    }
  }
  napi_env env = l->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, data, result;
  void *copy;
  napi_get_reference_value(env, l->callback, &cb);
  napi_get_global(env, &recv);
  if (cb != NULL && napi_create_buffer_copy(env, (size_t)len, l->buffer, &copy, &data) == napi_ok) {
    napi_value argv[5] = {data, str(env, source), str(env, destination), num(env, ifindex), num(env, ttl)};
    // make_callback: microtasks and next ticks run after it, as after any I/O callback of Node's own.
    if (napi_make_callback(env, l->async, recv, cb, 5, argv, &result) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  Listener *l = (Listener *)handle->data;
  (void)events;
  if (status < 0 || l->closed) return;
  for (int i = 0; i < MAX_BATCH && !l->closed; i++) {
    struct sockaddr_storage from;
    char control[256];
    struct iovec iov = {.iov_base = l->buffer, .iov_len = MAX_DATAGRAM};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t len = recvmsg(l->fd, &msg, MSG_DONTWAIT);
    if (len < 0) return;  // EAGAIN: drained; anything else will be told again by poll
    // A truncated datagram is handed over as cut: the parser counts it as malformed.
    deliver(l, len, &from, &msg);
  }
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value code, msg, error;
  napi_create_string_utf8(env, err == EPERM ? "EPERM" : err == ENODEV ? "ENODEV" : "ESOCKET", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_throw(env, error);
  return NULL;
}

static int set_int(int fd, int level, int name, int value) { return setsockopt(fd, level, name, &value, sizeof value); }

static napi_value close_listener(napi_env env, napi_callback_info info) {
  void *data;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &data);
  Listener **slot = (Listener **)data;
  if (*slot != NULL) shut(*slot, 0);
  *slot = NULL;
  return NULL;
}

static void free_slot(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value open_listener(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ifname[IF_NAMESIZE];
  size_t ifname_len = 0;
  int32_t family = 0;
  napi_valuetype cb_type;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &ifname_len) != napi_ok || ifname_len == 0 || ifname_len >= IF_NAMESIZE - 1 ||
      napi_get_value_int32(env, argv[1], &family) != napi_ok || (family != 4 && family != 6) || napi_typeof(env, argv[2], &cb_type) != napi_ok || cb_type != napi_function) {
    napi_throw_type_error(env, NULL, "open(ifname: string of 1 to 14 characters, family: 4 | 6, onPacket: function)");
    return NULL;
  }
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, ifname, errno);
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_VRRP);
  if (fd < 0) return throw_errno(env, "socket(SOCK_RAW, 112)", errno);
  int failed = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)ifname_len) != 0;
  if (!failed && family == 4) {
    // Joined so that the interface accepts VRRP's group even where no local keepalived joined it.
    struct ip_mreqn group = {.imr_ifindex = (int)ifindex};
    inet_pton(AF_INET, "224.0.0.18", &group.imr_multiaddr);
    failed = set_int(fd, IPPROTO_IP, IP_PKTINFO, 1) || set_int(fd, IPPROTO_IP, IP_RECVTTL, 1) || setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &group, sizeof group);
  } else if (!failed) {
    struct ipv6_mreq group = {.ipv6mr_interface = ifindex};
    inet_pton(AF_INET6, "ff02::12", &group.ipv6mr_multiaddr);
    failed = set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) || set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1) || setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &group, sizeof group);
  }
  // Nothing is ever sent on this socket: no multicast of ours is looped back into it either.
  if (!failed) failed = set_int(fd, family == 4 ? IPPROTO_IP : IPPROTO_IPV6, family == 4 ? IP_MULTICAST_LOOP : IPV6_MULTICAST_LOOP, 0);
  if (failed) {
    int err = errno;
    close(fd);
    return throw_errno(env, ifname, err);
  }
  Listener *l = calloc(1, sizeof *l);
  Listener **slot = malloc(sizeof *slot);
  unsigned char *buffer = malloc(MAX_DATAGRAM);
  uv_loop_t *loop;
  if (l == NULL || slot == NULL || buffer == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init_socket(loop, &l->poll, fd) != 0) {
    free(l);
    free(slot);
    free(buffer);
    close(fd);
    napi_throw_error(env, NULL, "cannot set up the VRRP listener (out of memory, or no event loop)");
    return NULL;
  }
  l->fd = fd;
  l->family = family;
  l->env = env;
  l->buffer = buffer;
  l->poll.data = l;
  napi_create_reference(env, argv[2], 1, &l->callback);
  napi_async_init(env, NULL, str(env, "kawatch:vrrp-socket"), &l->async);
  napi_add_env_cleanup_hook(env, cleanup_hook, l);
  uv_poll_start(&l->poll, UV_READABLE, on_readable);
  *slot = l;
  napi_value closer;
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, close_listener, slot, &closer);
  napi_add_finalizer(env, closer, slot, free_slot, NULL, NULL);
  return closer;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_listener, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  return exports;
}

NAPI_MODULE(vrrp_socket, init)

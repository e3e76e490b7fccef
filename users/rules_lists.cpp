// The reserved names and privileged groups of users/rules.h. docs/users.md ("Reserved names",
// "Privileged groups") shows the same lists with the same reasons; change both together.
//
// Why names are reserved at all: a pool user gets a group of its own name. A package installed
// later that runs `addgroup --system docker` (or `adduser --system`) finds the name taken and
// uses it as it is, so the pool user named docker would be handed the package's rights; and a
// name the base system already uses would collide on instances where it exists. The accounts
// that exist on an instance, and those NSS shows on a real root, are checked separately (the
// account files, users/name_service.h), so these lists hold what does not exist yet.
#include "users/rules.h"

namespace dsvm::users {

namespace {

constexpr ReservedName k_reserved_names[] = {
    // The base system: Debian's base-passwd, systemd's sysusers.d and Ubuntu's images. Its
    // privileged groups (root, sys, tty, mail, ...) are in k_privileged_groups instead.
    {"daemon", "the base system"},
    {"bin", "the base system"},
    {"sync", "the base system"},
    {"games", "the base system"},
    {"man", "the base system"},
    {"lp", "the base system"},
    {"news", "the base system"},
    {"uucp", "the base system"},
    {"proxy", "the base system"},
    {"www-data", "the base system"},
    {"backup", "the base system"},
    {"list", "the base system"},
    {"irc", "the base system"},
    {"gnats", "the base system"},
    {"nobody", "the base system"},
    {"nogroup", "the base system"},
    {"operator", "the base system"},
    {"majordom", "the base system"},
    {"dialout", "the base system (group)"},
    {"fax", "the base system (group)"},
    {"voice", "the base system (group)"},
    {"cdrom", "the base system (group)"},
    {"floppy", "the base system (group)"},
    {"tape", "the base system (group)"},
    {"audio", "the base system (group)"},
    {"dip", "the base system (group)"},
    {"utmp", "the base system (group)"},
    {"video", "the base system (group)"},
    {"plugdev", "the base system (group)"},
    {"users", "the base system (group)"},
    {"lpadmin", "the base system (group)"},
    {"scanner", "the base system (group)"},
    {"kvm", "udev (group)"},
    {"render", "udev (group)"},
    {"sgx", "udev (group)"},
    {"netdev", "Ubuntu's images (group)"},
    {"crontab", "cron (group)"},
    {"messagebus", "dbus"},
    {"polkitd", "polkitd"},
    {"sshd", "openssh-server"},
    {"uuidd", "uuid-runtime"},
    {"tcpdump", "tcpdump"},
    {"landscape", "Ubuntu's images (landscape-common)"},
    {"pollinate", "Ubuntu's images (pollinate)"},
    {"fwupd-refresh", "Ubuntu's images (fwupd)"},
    {"usbmux", "usbmuxd"},
    {"dhcpcd", "Ubuntu 24.04's images (dhcpcd-base)"},
    {"dnsmasq", "dnsmasq"},
    {"statd", "nfs-common"},
    {"rdma", "rdma-core (group)"},
    {"ntp", "ntp"},
    {"ntpsec", "ntpsec"},
    {"netplan", "netplan"},
    {"snap_daemon", "snapd"},
    // Azure agents and extensions.
    {"omi", "Azure's OMI agent"},
    {"omiusers", "Azure's OMI agent (group)"},
    {"omsagent", "Azure's Log Analytics agent"},
    {"nxautomation", "Azure Automation's agent"},
    // The data science image and what its users install: containers, VMs, GPUs, notebooks.
    {"dockremap", "docker.io (user namespace remapping)"},
    {"containerd", "containerd"},
    {"podman", "podman"},
    {"incus", "incus (group)"},
    {"libvirt-qemu", "libvirt-daemon-system"},
    {"libvirt-dnsmasq", "libvirt-daemon-system"},
    {"nvidia-persistenced", "NVIDIA's drivers"},
    {"ollama", "ollama"},
    {"jupyterhub", "JupyterHub"},
    {"jupyterhub-users", "The Littlest JupyterHub (group)"},
    {"rstudio-server", "RStudio Server"},
    {"shiny", "Shiny Server"},
    {"mssql", "SQL Server"},
    {"x2gouser", "x2goserver"},
    {"xrdp", "xrdp"},
    {"sambashare", "samba (group)"},
    {"vboxusers", "virtualbox (group)"},
    // Databases, queues and services.
    {"postgres", "postgresql"},
    {"mysql", "mysql-server, mariadb-server"},
    {"redis", "redis-server"},
    {"mongodb", "mongodb"},
    {"memcache", "memcached"},
    {"rabbitmq", "rabbitmq-server"},
    {"elasticsearch", "elasticsearch"},
    {"kibana", "kibana"},
    {"grafana", "grafana"},
    {"prometheus", "prometheus"},
    {"influxdb", "influxdb"},
    {"telegraf", "telegraf"},
    {"zookeeper", "zookeeper"},
    {"kafka", "kafka"},
    {"cassandra", "cassandra"},
    {"couchdb", "couchdb"},
    {"neo4j", "neo4j"},
    {"nginx", "nginx"},
    {"haproxy", "haproxy"},
    {"bind", "bind9"},
    {"unbound", "unbound"},
    {"postfix", "postfix"},
    {"postdrop", "postfix (group)"},
    {"dovecot", "dovecot"},
    {"dovenull", "dovecot"},
    {"opendkim", "opendkim"},
    {"clamav", "clamav"},
    {"debian-tor", "tor"},
    {"openldap", "slapd"},
    {"sssd", "sssd"},
    {"nslcd", "nslcd"},
    {"jenkins", "jenkins"},
    {"gitlab-runner", "gitlab-runner"},
    {"nagios", "nagios"},
    {"zabbix", "zabbix"},
    {"munin", "munin"},
    {"ceph", "ceph"},
    {"cockpit-ws", "cockpit"},
    {"cockpit-wsinstance", "cockpit"},
    // Desktops (the image's remote desktop, and what a user may add).
    {"avahi", "avahi-daemon"},
    {"avahi-autoipd", "avahi-autoipd"},
    {"colord", "colord"},
    {"rtkit", "rtkit"},
    {"pulse", "pulseaudio"},
    {"pulse-access", "pulseaudio (group)"},
    {"gdm", "gdm3"},
    {"lightdm", "lightdm"},
    {"sddm", "sddm"},
    {"geoclue", "geoclue"},
    {"saned", "sane-utils"},
    {"hplip", "hplip"},
    {"whoopsie", "whoopsie"},
    {"kernoops", "kerneloops"},
    {"speech-dispatcher", "speech-dispatcher"},
    {"cups-pk-helper", "cups-pk-helper"},
    {"cups-browsed", "cups-browsed"},
    {"bluetooth", "bluez (group)"},
    {"gnome-initial-setup", "gnome-initial-setup"},
    {"nm-openvpn", "network-manager-openvpn"},
    {"nm-openconnect", "network-manager-openconnect"},
};

constexpr ReservedPrefix k_reserved_prefixes[] = {
    {"dsvm-", "the agent (its sudo group dsvm-sudo, its own names)"},
    {"systemd-", "systemd (systemd-journal, systemd-network, systemd-coredump, ...)"},
    {"_", "system accounts (Debian's convention: _apt, _chrony, _rpc, _ssh, ...)"},
};

// Each of these gives root or lets its members read what is not theirs. A pool user who needs
// one gets it from the instance's admin, not from the pool config or the share.
constexpr PrivilegedGroup k_privileged_groups[] = {
    {"root", "GID 0 owns system files and devices"},
    {"sudo", "sudoers and polkit give its members root"},
    {"admin", "Ubuntu's sudoers gives its members root"},
    {"wheel", "pam_wheel and many sudoers files give its members root"},
    {"aad_admins", "the Azure AD SSH login extension's sudoers gives its members root"},
    {"jupyterhub-admins", "The Littlest JupyterHub's sudoers gives its members root"},
    {"adm", "it reads the logs in /var/log and the journal, where secrets end up"},
    {"systemd-journal", "it reads every user's and service's journal"},
    {"syslog", "it writes /var/log on Ubuntu, where root rotates the logs"},
    {"shadow", "it reads the password hashes in /etc/shadow"},
    {"disk", "raw access to the disks: any file, read and written"},
    {"kmem", "it reads the kernel's memory (/dev/mem, /dev/port)"},
    {"sys", "it owned kernel sources and system files, and nothing a user needs"},
    {"staff", "it writes /usr/local, which comes before /usr in root's PATH"},
    {"src", "it writes /usr/src, from which DKMS builds kernel modules as root"},
    {"tty", "it writes to every terminal, root's included"},
    {"mail", "it reads every user's mailbox in /var/mail"},
    {"sasl", "it reads the SASL password database"},
    {"ssl-cert", "it reads the TLS private keys in /etc/ssl/private"},
    {"tss", "it talks to the TPM directly, where trusted-launch VMs keep sealed keys"},
    {"input", "it reads every keystroke at the console"},
    {"wireshark", "dumpcap captures every packet on the instance"},
    {"plocate", "its database lists every file name, in private homes too"},
    {"mlocate", "its database lists every file name, in private homes too"},
    {"docker", "the Docker daemon's socket: root on the host"},
    {"lxd", "the LXD daemon's socket: root on the host"},
    {"incus-admin", "the Incus daemon's socket: root on the host"},
    {"libvirt", "the system libvirt daemon: root on the host"},
    {"microk8s", "MicroK8s, which runs privileged pods: root on the host"},
};

}  // namespace

std::span<const ReservedName> reserved_user_names() {
    return k_reserved_names;
}

std::span<const ReservedPrefix> reserved_prefixes() {
    return k_reserved_prefixes;
}

std::span<const PrivilegedGroup> privileged_groups() {
    return k_privileged_groups;
}

}  // namespace dsvm::users

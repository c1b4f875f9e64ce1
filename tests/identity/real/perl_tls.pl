# Perl TLS clients against the test's loopback HTTPS server (Net::SSLeay is
# an XS module: DynaLoader loads it, and libssl with it, into a local scope).
#   perl perl_tls.pl socket PORT CA   IO::Socket::SSL, verified, GET over it;
#                                     then the wrong host name (fails)
#   perl perl_tls.pl tiny URL CA      HTTP::Tiny over https, twice
use strict;
use warnings;
use IO::Socket::SSL;

$| = 1;
my ($mode, $target, $ca) = @ARGV;

sub tls_get {
    my ($port, $host, $path) = @_;
    my $s = IO::Socket::SSL->new(
        PeerHost => "127.0.0.1", PeerPort => $port, Timeout => 10,
        SSL_ca_file => $ca, SSL_verify_mode => SSL_VERIFY_PEER,
        SSL_hostname => "localhost", SSL_verifycn_name => $host, SSL_verifycn_scheme => "http");
    if (!$s) {
        my $error = $SSL_ERROR;
        my $verify = $error =~ /certificate verify failed|hostname verification failed/;
        print "$host: failed: ", ($verify ? "verification failed" : $error), "\n";
        return;
    }
    print "$host: version ", $s->get_sslversion, " cipher ", $s->get_cipher, "\n";
    print "$host: subject ", $s->peer_certificate("subject"), "\n";
    print "$host: issuer ", $s->peer_certificate("issuer"), "\n";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    my $response = do { local $/; <$s> };
    my ($head, $body) = split /\r\n\r\n/, $response, 2;
    print "$host: status line ", (split /\r\n/, $head)[0], "\n";
    print "$host: body $body";
    $s->close(SSL_fast_shutdown => 1);
}

if ($mode eq "socket") {
    tls_get($target, "localhost", "/perl-socket");
    tls_get($target, "wrong.invalid", "/never");
} elsif ($mode eq "tiny") {
    require HTTP::Tiny;
    my $http = HTTP::Tiny->new(verify_SSL => 1, timeout => 10, proxy => undef, http_proxy => undef,
                               https_proxy => undef, no_proxy => ["127.0.0.1", "localhost"],
                               SSL_options => {SSL_ca_file => $ca});
    for my $path ("/tiny-1", "/tiny-2") {
        my $response = $http->get("$target$path");
        print "tiny $path: $response->{status} $response->{reason} body $response->{content}";
    }
} else {
    die "unknown mode $mode\n";
}

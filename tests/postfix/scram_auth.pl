#!/usr/bin/perl
# scram_auth.pl HOST PORT USER PASSWORD — a real SCRAM-SHA-256 client
# (Authen::SCRAM, an implementation independent of libsasl2) against an SMTP
# submission service: STARTTLS, then AUTH SCRAM-SHA-256, checking the
# server's signature. Prints every reply; exits 0 only on 235 with a server
# signature that verifies.
use strict;
use warnings;
use Net::SMTP;
use Authen::SCRAM::Client;
use MIME::Base64;

my ($host, $port, $user, $pass) = @ARGV;
die "usage: scram_auth.pl HOST PORT USER PASSWORD\n" unless defined $pass;
my $smtp = Net::SMTP->new($host, Port => $port, Hello => 'client.test', Timeout => 20)
  or die "cannot connect to $host:$port: $@\n";
$smtp->starttls(SSL_verify_mode => 0) or die "STARTTLS failed: " . $smtp->message;
my $client = Authen::SCRAM::Client->new(username => $user, password => $pass, digest => 'SHA-256',
                                        minimum_iteration_count => 4096);

sub step {  # sends one line, returns the decoded challenge of a 334
  my ($line) = @_;
  $smtp->command($line)->response;
  my $reply = $smtp->code . ' ' . $smtp->message;
  $reply =~ s/\s+$//;
  print "<~ $reply\n";
  return undef unless $smtp->code == 334;
  (my $b64 = $smtp->message) =~ s/\s+//g;
  return decode_base64($b64);
}

my $server_first = step('AUTH SCRAM-SHA-256 ' . encode_base64($client->first_msg, ''));
exit 1 unless defined $server_first;
my $server_final = step(encode_base64($client->final_msg($server_first), ''));
exit 1 unless defined $server_final;
if (!eval { $client->validate($server_final) }) {
  print "server signature does not verify\n";
  exit 1;
}
print "server signature verified\n";
step('');
exit($smtp->code == 235 ? 0 : 1);

# Reads the project's Vagrantfile the way Vagrant would (it is Ruby: this loads it
# with a stand-in for the few parts of Vagrant's configuration API it uses) and
# writes down what `vagrant up` would do with it, for check-in-container.sh:
#
#   ruby provisioning/vagrant/check/vagrantfile-plan.rb Vagrantfile PLAN_DIR
#
# PLAN_DIR gets:
#   box, hostname, ssh_user               one value each
#   synced_folder                         "HOST_PATH GUEST_PATH TYPE"
#   rsync_excludes                        one pattern a line (Vagrant adds .vagrant/ first)
#   forwarded_ports                       "GUEST HOST HOST_IP AUTO_CORRECT" a line
#   provisioners/NN-NAME/script           the script Vagrant uploads (CRLF -> LF)
#   provisioners/NN-NAME/upload_path      where it uploads it (/tmp/vagrant-shell)
#   provisioners/NN-NAME/shell            the remote shell: "sudo -E -H bash -l" or "bash -l"
#   provisioners/NN-NAME/stdin            what Vagrant's SSH communicator writes to that
#                                         shell: the TERM export, the command, "exit"
#
# The command is built as Vagrant's shell provisioner builds it (plugins/provisioners/
# shell/provisioner.rb: `chmod +x 'PATH' && K="V" ... PATH "ARG" ...`, with its
# quote_and_escape), and the shell as its SSH communicator chooses it (config.ssh.shell
# "bash -l", sudo_command "sudo -E -H %c" when privileged). Anything in the Vagrantfile
# this stand-in does not know is an error, so the check cannot silently drift from it.
require "fileutils"

vagrantfile, out = ARGV
abort "usage: #{$PROGRAM_NAME} VAGRANTFILE PLAN_DIR" unless vagrantfile && out
ROOT = File.dirname(File.expand_path(vagrantfile))

def unsupported(what)
  raise NotImplementedError,
        "#{what} is not understood by provisioning/vagrant/check/vagrantfile-plan.rb; teach it before relying on the container check"
end

# A provider block (virtualbox, libvirt): its settings do not apply to a container.
class ProviderSettings
  def method_missing(_name, *_args) = self
  def respond_to_missing?(*) = true
end

class SSHSettings
  attr_accessor :username, :shell, :sudo_command
  def method_missing(name, *_args) = unsupported("config.ssh.#{name}")
  def respond_to_missing?(*) = false
end

class VMSettings
  attr_accessor :box, :hostname
  attr_reader :networks, :folders, :provisioners

  def initialize
    @networks = []
    @folders = []
    @provisioners = []
  end

  def network(type, **options) = @networks << [type.to_s, options]
  def synced_folder(host, guest, **options) = @folders << [host, guest, options]
  def provider(_name) = yield(ProviderSettings.new)

  SHELL_OPTIONS = %i[type path inline args env privileged upload_path binary name].freeze

  def provision(name, **options)
    type = (options[:type] || name).to_s
    unsupported("a #{type} provisioner") unless type == "shell"
    unknown = options.keys - SHELL_OPTIONS
    unsupported("shell provisioner option(s) #{unknown.join(', ')}") unless unknown.empty?
    @provisioners << [name.to_s, options]
  end

  def method_missing(name, *_args) = unsupported("config.vm.#{name}")
  def respond_to_missing?(*) = false
end

class Config
  def vm = (@vm ||= VMSettings.new)
  def ssh = (@ssh ||= SSHSettings.new)
  def method_missing(name, *_args) = unsupported("config.#{name}")
  def respond_to_missing?(*) = false
end

module Vagrant
  @configs = []
  class << self
    attr_reader :configs

    def configure(version)
      unsupported("Vagrant.configure(#{version.inspect})") unless version.to_s == "2"
      config = Config.new
      yield config
      @configs << config
    end
  end
end

load File.expand_path(vagrantfile)
abort "#{vagrantfile}: expected one Vagrant.configure block" unless Vagrant.configs.size == 1
config = Vagrant.configs.first
vm = config.vm

# Vagrant's quoting of args and env values (shell provisioner, quote_and_escape).
def quote_and_escape(text, quote = '"')
  "#{quote}#{text.gsub(/#{quote}/) { |m| "#{m}\\#{m}#{m}" }}#{quote}"
end

def write(path, content)
  FileUtils.mkdir_p(File.dirname(path))
  File.write(path, content)
end

FileUtils.rm_rf(out)
FileUtils.mkdir_p(out)
write("#{out}/box", "#{vm.box}\n")
write("#{out}/hostname", "#{vm.hostname}\n")
write("#{out}/ssh_user", "#{config.ssh.username || 'vagrant'}\n")

folders = vm.folders.select { |_, guest, _| guest == "/vagrant" }
abort "#{vagrantfile}: expected one synced folder on /vagrant" unless folders.size == 1
host, guest, options = folders.first
type = (options[:type] || "virtualbox").to_s
write("#{out}/synced_folder", "#{File.expand_path(host, ROOT)} #{guest} #{type}\n")
excludes = [".vagrant/"] + Array(options[:rsync__exclude]).map(&:to_s)
write("#{out}/rsync_excludes", excludes.uniq.map { |e| "#{e}\n" }.join)

ports = vm.networks.select { |type_, _| type_ == "forwarded_port" }.map do |_, o|
  "#{o[:guest]} #{o[:host]} #{o[:host_ip] || '*'} #{o[:auto_correct] ? 'true' : 'false'}\n"
end
write("#{out}/forwarded_ports", ports.join)
other = vm.networks.reject { |type_, _| type_ == "forwarded_port" }
unsupported("config.vm.network #{other.map(&:first).join(', ')}") unless other.empty?

shell = config.ssh.shell || "bash -l"
sudo_command = config.ssh.sudo_command || "sudo -E -H %c"
vm.provisioners.each_with_index do |(name, o), index|
  script = if o[:path]
             File.read(File.expand_path(o[:path], ROOT))
           elsif o[:inline]
             o[:inline].dup
           else
             abort "#{vagrantfile}: provisioner #{name} has neither path nor inline"
           end
  script.gsub!(/\r\n?$/, "\n") unless o[:binary]
  upload_path = (o[:upload_path] || "/tmp/vagrant-shell").to_s
  args = case o[:args]
         when nil then ""
         when String then " #{o[:args]}"
         when Array then " " + o[:args].map { |a| quote_and_escape(a.to_s) }.join(" ")
         else unsupported("args of type #{o[:args].class}")
         end
  env = (o[:env] || {}).map { |k, v| "#{k}=#{quote_and_escape(v.to_s)}" }.join(" ")
  command = +"chmod +x '#{upload_path}'"
  command << " &&"
  command << " #{env}" unless env.empty?
  command << " #{upload_path}#{args}"
  privileged = o.fetch(:privileged, true)
  dir = format("%s/provisioners/%02d-%s", out, index + 1, name.gsub(/[^A-Za-z0-9_.-]/, "_"))
  write("#{dir}/script", script)
  write("#{dir}/upload_path", "#{upload_path}\n")
  write("#{dir}/shell", "#{privileged ? sudo_command.gsub('%c', shell) : shell}\n")
  write("#{dir}/stdin", "export TERM=\"vt100\"\n#{command}\nexit\n")
  write("#{dir}/source", "#{o[:path] || 'inline'}\n")
end
